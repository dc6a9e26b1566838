"""tf.data reads and decodes examples in parallel (AUTOTUNE), batches, and prefetches."""

from __future__ import annotations

from pipelines.data.online.common import PipelineSpec, loader, ordered_indices
from pipelines.data.source import Split


def build_parallel(split: Split, spec: PipelineSpec):
    """tf.data reads and decodes examples in parallel (AUTOTUNE), batches, and prefetches."""
    import tensorflow as tf

    return (
        ordered_indices(split, spec)
        .map(loader(split, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(spec.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
