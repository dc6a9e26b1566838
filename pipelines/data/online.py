"""Online input pipelines: each turns a split into a batched `tf.data.Dataset` of (uint8 images, labels).

They share one visiting order (`epoch_orders`), so for the same seed every pipeline yields the same
labels in the same order and, up to resize rounding, the same pixels; they differ only in how the
work is scheduled, which is what the harness measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from pipelines.data.decode import decode_pil, decode_tf
from pipelines.data.source import Split
from pipelines.errors import UserInputError


@dataclass(frozen=True)
class PipelineSpec:
    image_size: int
    batch_size: int
    seed: int = 0
    shuffle: bool = True


def epoch_orders(n: int, spec: PipelineSpec) -> Iterator[np.ndarray]:
    """The example order of each epoch, forever: a fresh permutation per epoch when shuffling."""
    epoch = 0
    while True:
        if spec.shuffle:
            yield np.random.default_rng([spec.seed, epoch]).permutation(n)
        else:
            yield np.arange(n)
        epoch += 1


def _ordered_indices(split: Split, spec: PipelineSpec):
    """The shared order as a dataset of indices: one Python call per epoch, not per example."""
    import tensorflow as tf

    n = len(split)
    return tf.data.Dataset.from_generator(
        lambda: epoch_orders(n, spec), output_signature=tf.TensorSpec([n], tf.int64)
    ).unbatch()


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

    paths = tf.constant(split.paths)
    labels = tf.constant(split.labels, tf.int64)

    def load(i):
        return decode_tf(tf.io.read_file(tf.gather(paths, i)), spec.image_size), tf.gather(labels, i)

    return (
        _ordered_indices(split, spec)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(spec.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


PIPELINES: dict[str, Callable] = {"naive": build_naive, "parallel": build_parallel}


def build(name: str, split: Split, spec: PipelineSpec):
    if name not in PIPELINES:
        raise UserInputError(f"unknown pipeline {name!r}: choose one of {', '.join(PIPELINES)}")
    if len(split) < spec.batch_size:
        raise UserInputError(
            f"the {split.name} split has {len(split)} images, fewer than one batch of {spec.batch_size}"
        )
    return PIPELINES[name](split, spec)
