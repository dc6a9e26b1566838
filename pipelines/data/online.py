"""Online input pipelines: each turns a split into a batched `tf.data.Dataset` of (uint8 images, labels).

The pipelines that read image files by index (naive, parallel, vectorized, prefetched) share one
visiting order (`epoch_orders`), so for the same seed they yield the same labels in the same order
and, up to resize rounding, the same pixels. The two that read a sequential store (cached, offline)
shuffle through a seeded buffer instead, as such pipelines must; with `shuffle=False` every
pipeline yields the examples in path order. They differ in how the work is scheduled, which is what
the harness measures.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import psutil

from pipelines.data.decode import decode_pil, decode_tf
from pipelines.data.shards import ShardSplit
from pipelines.data.source import Split
from pipelines.errors import UserInputError

SHUFFLE_BUFFER = 1024  # examples held by the sequential-store pipelines' shuffle


@dataclass(frozen=True)
class PipelineSpec:
    image_size: int
    batch_size: int
    seed: int = 0
    shuffle: bool = True
    cache_dir: str | None = None  # `cached` only: a file cache there instead of memory


def epoch_orders(n: int, spec: PipelineSpec) -> Iterator[np.ndarray]:
    """The example order of each epoch, forever: a fresh permutation per epoch when shuffling."""
    epoch = 0
    while True:
        yield np.random.default_rng([spec.seed, epoch]).permutation(n) if spec.shuffle else np.arange(n)
        epoch += 1


def _ordered_indices(split: Split, spec: PipelineSpec):
    """The shared order as a dataset of indices: one Python call per epoch, not per example."""
    import tensorflow as tf

    n = len(split)
    return tf.data.Dataset.from_generator(
        lambda: epoch_orders(n, spec), output_signature=tf.TensorSpec([n], tf.int64)
    ).unbatch()


def _loader(split: Split, spec: PipelineSpec):
    """index -> (decoded image, label), reading the file with TensorFlow (by its bytes: a name that is
    not UTF-8 has no str that TensorFlow would take)."""
    import tensorflow as tf

    paths = tf.constant([os.fsencode(p) for p in split.paths])
    labels = tf.constant(split.labels, tf.int64)

    def load(i):
        return decode_tf(tf.io.read_file(tf.gather(paths, i)), spec.image_size), tf.gather(labels, i)

    return load


def build_naive(split: Split, spec: PipelineSpec):
    """The reference's starting point: a Python generator that reads and decodes with PIL, one thread."""
    import tensorflow as tf

    def examples():
        for order in epoch_orders(len(split), spec):
            for i in order:
                with open(split.paths[i], "rb") as handle:
                    yield decode_pil(handle.read(), spec.image_size), split.labels[i]

    size = spec.image_size
    dataset = tf.data.Dataset.from_generator(
        examples,
        output_signature=(tf.TensorSpec([size, size, 3], tf.uint8), tf.TensorSpec([], tf.int64)),
    )
    return dataset.batch(spec.batch_size, drop_remainder=True)


def build_parallel(split: Split, spec: PipelineSpec):
    """tf.data reads and decodes examples in parallel (AUTOTUNE), batches, and prefetches."""
    import tensorflow as tf

    return (
        _ordered_indices(split, spec)
        .map(_loader(split, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(spec.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def build_vectorized(split: Split, spec: PipelineSpec):
    """Batch the indices first, then map once per batch: fewer, larger tf.data calls."""
    import tensorflow as tf

    load = _loader(split, spec)
    size = spec.image_size

    def load_batch(indices):
        images = tf.map_fn(lambda i: load(i)[0], indices,
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
        return images, tf.gather(tf.constant(split.labels, tf.int64), indices)

    return (
        _ordered_indices(split, spec)
        .batch(spec.batch_size, drop_remainder=True)
        .map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def build_prefetched(split: Split, spec: PipelineSpec):
    """`parallel`, with batches prefetched onto the GPU when there is one (on a CPU: `parallel`)."""
    import tensorflow as tf

    dataset = build_parallel(split, spec)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        dataset = dataset.apply(tf.data.experimental.prefetch_to_device(gpus[0].name, buffer_size=2))
    return dataset


def cache_file(split: Split, spec: PipelineSpec) -> Path:
    """A cache name that changes with the files and the image size, so a stale cache is never read."""
    digest = hashlib.sha1(b"\n".join(map(os.fsencode, [str(spec.image_size), *split.paths]))).hexdigest()[:16]
    return Path(spec.cache_dir) / f"{split.name}-{spec.image_size}px-{digest}"


def check_memory_cache_fits(examples: int, image_size: int) -> None:
    needed = examples * image_size * image_size * 3
    free = psutil.virtual_memory().available
    if needed > free:
        raise UserInputError(
            f"an in-memory cache of {examples:,} images at {image_size}x{image_size} needs "
            f"{needed / 2**30:.1f} GiB but {free / 2**30:.1f} GiB is free: pass --cache-dir DIR to cache in a file"
        )


def build_cached(split: Split, spec: PipelineSpec):
    """Decode once in path order into a cache (memory, or a file under cache_dir), then shuffle and batch.

    The first epoch fills the cache; later epochs read decoded images from it.
    """
    import tensorflow as tf

    if spec.cache_dir:
        Path(spec.cache_dir).mkdir(parents=True, exist_ok=True)
        target = str(cache_file(split, spec))
    else:
        check_memory_cache_fits(len(split), spec.image_size)
        target = ""
    dataset = (
        tf.data.Dataset.range(len(split))
        .map(_loader(split, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .cache(target)
    )
    return _shuffle_repeat_batch(dataset, len(split), spec).prefetch(tf.data.AUTOTUNE)


def _shuffle_repeat_batch(dataset, examples: int, spec: PipelineSpec):
    if spec.shuffle:
        dataset = dataset.shuffle(min(examples, SHUFFLE_BUFFER), seed=spec.seed, reshuffle_each_iteration=True)
    return dataset.repeat().batch(spec.batch_size, drop_remainder=True)


def build_offline(split: ShardSplit, spec: PipelineSpec):
    """Read preprocessed shards: interleaved in parallel, shuffled by shard and by buffer, parsed per batch.

    Images are stored decoded, so no JPEG work remains; a resize happens only when the workload's
    size differs from the shards'.
    """
    import tensorflow as tf

    files = tf.data.Dataset.from_tensor_slices(list(split.files))
    if spec.shuffle:
        files = files.shuffle(len(split.files), seed=spec.seed, reshuffle_each_iteration=True)
    records = files.repeat().interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(split.files), 8),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )
    if spec.shuffle:
        records = records.shuffle(min(len(split), SHUFFLE_BUFFER), seed=spec.seed)
    return (
        records.batch(spec.batch_size, drop_remainder=True)
        .map(_shard_parser(split.image_size, spec.image_size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def _shard_parser(stored: int, size: int):
    """A batch of serialized examples -> (uint8 images at `size`, labels)."""
    import tensorflow as tf

    features = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, features)
        images = tf.reshape(tf.io.decode_raw(parsed["image"], tf.uint8), [-1, stored, stored, 3])
        if stored != size:
            resized = tf.image.resize(images, [size, size], method="bilinear", antialias=True)
            images = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
        return images, parsed["label"]

    return parse


def evaluation_dataset(split: Split | ShardSplit, spec: PipelineSpec):
    """Every example of the split exactly once, in order, the last batch possibly short: for evaluation."""
    import tensorflow as tf

    if isinstance(split, ShardSplit):
        records = tf.data.TFRecordDataset(list(split.files))
        return records.batch(spec.batch_size).map(_shard_parser(split.image_size, spec.image_size)).prefetch(2)
    return (
        tf.data.Dataset.range(len(split))
        .map(_loader(split, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(spec.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def build_synthetic(split: Split | ShardSplit, spec: PipelineSpec):
    """One seeded batch of random images and labels held in memory and repeated: no input cost at all,
    so training on it measures the model's ceiling."""
    import tensorflow as tf

    rng = np.random.default_rng(spec.seed)
    size = spec.image_size
    images = rng.integers(0, 256, (spec.batch_size, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, len(split.classes), spec.batch_size)
    return tf.data.Dataset.from_tensors((images, labels)).repeat()


PIPELINES: dict[str, Callable] = {
    "synthetic": build_synthetic,
    "naive": build_naive,
    "parallel": build_parallel,
    "vectorized": build_vectorized,
    "cached": build_cached,
    "prefetched": build_prefetched,
    "offline": build_offline,
}


def build(name: str, split: Split | ShardSplit, spec: PipelineSpec):
    if name not in PIPELINES:
        raise UserInputError(f"unknown pipeline {name!r}: choose one of {', '.join(PIPELINES)}")
    if name == "offline" and not isinstance(split, ShardSplit):
        raise UserInputError(
            "the offline pipeline reads preprocessed shards: run `harness data preprocess SRC OUT` "
            "and pass OUT as --data"
        )
    if name not in ("offline", "synthetic") and isinstance(split, ShardSplit):
        raise UserInputError(f"the {name} pipeline reads image files: pass an ImageNet-layout folder as --data")
    if len(split) < spec.batch_size:
        raise UserInputError(
            f"the {split.name} split has {len(split)} images, fewer than one batch of {spec.batch_size}"
        )
    return PIPELINES[name](split, spec)
