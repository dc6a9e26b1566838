"""One seeded batch held in memory and repeated: no input cost, the model's ceiling."""

from __future__ import annotations

import numpy as np

from pipelines.data.online.common import PipelineSpec
from pipelines.data.shards import ShardSplit
from pipelines.data.source import Split


def build_synthetic(split: Split | ShardSplit, spec: PipelineSpec):
    """One seeded batch of random images and labels held in memory and repeated: no input cost at all,
    so training on it measures the model's ceiling."""
    import tensorflow as tf

    rng = np.random.default_rng(spec.seed)
    size = spec.image_size
    images = rng.integers(0, 256, (spec.batch_size, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, len(split.classes), spec.batch_size)
    return tf.data.Dataset.from_tensors((images, labels)).repeat()
