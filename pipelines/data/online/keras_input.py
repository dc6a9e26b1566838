"""What a pipeline hands `model.fit`: a tf.data dataset, or a generator of (uint8 images, int64 labels)
numpy batches (the pipelines that need no TensorFlow: synthetic, naive, processes).

Keras takes either on both backends, and `harness.timing.drain` iterates either. One difference is
Keras's own: on TensorFlow its generator adapter wraps a generator in tf.data with
`prefetch(AUTOTUNE)`, which would decode the next batch in a background thread and so give `naive`
the overlap it exists to lack. `for_keras` wraps it without that prefetch instead, so that what a
pipeline does ahead of time stays the pipeline's own (processes decodes ahead, naive does not).
"""

from __future__ import annotations

import sys

from pipelines.backend import active
from pipelines.data.online.common import PipelineSpec


def is_tf_dataset(dataset) -> bool:
    """Whether `dataset` is a tf.data dataset; never imports TensorFlow (none exists unless it is loaded)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(dataset, tf.data.Dataset)


def for_keras(dataset, spec: PipelineSpec):
    """The training pipeline `dataset` as this backend's Keras should get it: a generator becomes a
    tf.data dataset on TensorFlow (no prefetch; every batch holds spec.batch_size examples), anything
    else is unchanged."""
    if active() != "tensorflow" or is_tf_dataset(dataset):
        return dataset
    import tensorflow as tf

    size = spec.image_size
    return tf.data.Dataset.from_generator(
        lambda: dataset,
        output_signature=(tf.TensorSpec([spec.batch_size, size, size, 3], tf.uint8),
                          tf.TensorSpec([spec.batch_size], tf.int64)),
    )
