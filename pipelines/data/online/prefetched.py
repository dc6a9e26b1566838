"""`parallel`, with batches prefetched onto the GPU when there is one (on a CPU: `parallel`)."""

from __future__ import annotations

from pipelines.data.online.common import PipelineSpec
from pipelines.data.online.parallel import build_parallel
from pipelines.data.source import Split


def build_prefetched(split: Split, spec: PipelineSpec):
    """`parallel`, with batches prefetched onto the GPU when there is one (on a CPU: `parallel`)."""
    import tensorflow as tf

    dataset = build_parallel(split, spec)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        dataset = dataset.apply(tf.data.experimental.prefetch_to_device(gpus[0].name, buffer_size=2))
    return dataset
