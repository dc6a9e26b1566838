"""What the online pipelines share: the spec, the shared visiting order (as indices for tf.data, or cut
into batches for the pipelines that need no TensorFlow), reading one example by index, the sequential
stores' shuffle, and parsing a batch of shard records."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from pipelines.data.decode import decode_tf
from pipelines.data.source import Split

SHUFFLE_BUFFER = 1024  # examples held by the sequential-store pipelines' shuffle


@dataclass(frozen=True)
class PipelineSpec:
    image_size: int
    batch_size: int
    seed: int = 0
    shuffle: bool = True
    cache_dir: str | None = None  # `cached` only: a file cache there instead of memory
    workers: int | None = None  # `processes` (and evaluation without TensorFlow): decode processes; None: one per usable core
    start: int = 0  # examples of the stream already trained on: a resumed training's stream begins after them


def epoch_orders(n: int, spec: PipelineSpec) -> Iterator[np.ndarray]:
    """The example order of each epoch, forever: a fresh permutation per epoch when shuffling, a
    function of the seed and the epoch only. From `spec.start` on: the epochs before it are never
    drawn, and the examples of its epoch before it are dropped, never read or decoded."""
    epoch, skip = divmod(spec.start, n)
    while True:
        order = np.random.default_rng([spec.seed, epoch]).permutation(n) if spec.shuffle else np.arange(n)
        yield order[skip:]
        epoch, skip = epoch + 1, 0


def index_batches(n: int, spec: PipelineSpec) -> Iterator[np.ndarray]:
    """The shared order cut into batches of `spec.batch_size`, forever. The order runs on across epochs,
    so a batch may hold the end of one epoch and the start of the next, exactly as tf.data's `batch`
    over `ordered_indices` does: that keeps the numpy pipelines' labels equal to tf.data's."""
    pending = np.empty(0, np.int64)
    for order in epoch_orders(n, spec):
        pending = np.concatenate([pending, order])
        while len(pending) >= spec.batch_size:
            yield pending[:spec.batch_size]
            pending = pending[spec.batch_size:]


def ordered_indices(split: Split, spec: PipelineSpec):
    """The shared order as a dataset of indices: one Python call per epoch, not per example."""
    import tensorflow as tf

    n = len(split)
    return tf.data.Dataset.from_generator(
        lambda: epoch_orders(n, spec), output_signature=tf.TensorSpec([None], tf.int64)
    ).unbatch()


def loader(split: Split, spec: PipelineSpec):
    """index -> (decoded image, label), reading the file with TensorFlow (by its bytes: a name that is
    not UTF-8 has no str that TensorFlow would take)."""
    import tensorflow as tf

    paths = tf.constant([os.fsencode(p) for p in split.paths])
    labels = tf.constant(split.labels, tf.int64)

    def load(i):
        path = tf.gather(paths, i)
        return decode_tf(tf.io.read_file(path), spec.image_size, path), tf.gather(labels, i)

    return load


def shuffle_repeat_batch(dataset, examples: int, spec: PipelineSpec):
    if spec.shuffle:
        dataset = dataset.shuffle(min(examples, SHUFFLE_BUFFER), seed=spec.seed, reshuffle_each_iteration=True)
    return dataset.repeat().skip(spec.start).batch(spec.batch_size, drop_remainder=True)


def shard_parser(stored: int, size: int):
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
