"""Batch the indices first, then map once per batch: fewer, larger tf.data calls."""

from __future__ import annotations

from pipelines.data.online.common import PipelineSpec, loader, ordered_indices
from pipelines.data.source import Split


def build_vectorized(split: Split, spec: PipelineSpec):
    """Batch the indices first, then map once per batch: fewer, larger tf.data calls."""
    import tensorflow as tf

    load = loader(split, spec)
    size = spec.image_size

    def load_batch(indices):
        images = tf.map_fn(lambda i: load(i)[0], indices,
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
        return images, tf.gather(tf.constant(split.labels, tf.int64), indices)

    return (
        ordered_indices(split, spec)
        .batch(spec.batch_size, drop_remainder=True)
        .map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
