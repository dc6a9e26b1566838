"""The reference's starting point: a Python generator that reads and decodes with PIL, one thread."""

from __future__ import annotations

from pipelines.data.decode import decode_pil
from pipelines.data.online.common import PipelineSpec, epoch_orders
from pipelines.data.source import Split


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
