"""One seeded batch held in memory and repeated: no input cost, the model's ceiling."""

from __future__ import annotations

import numpy as np

from pipelines.data.online.common import PipelineSpec
from pipelines.data.shards import ShardSplit
from pipelines.data.source import Split


def build_synthetic(split: Split | ShardSplit, spec: PipelineSpec):
    """A generator that yields one seeded batch of random uint8 images and int64 labels, the same arrays
    every time: no input cost at all, so training on it measures the model's ceiling."""
    rng = np.random.default_rng(spec.seed)
    size = spec.image_size
    batch = (rng.integers(0, 256, (spec.batch_size, size, size, 3), dtype=np.uint8),
             rng.integers(0, len(split.classes), spec.batch_size))

    def forever():
        while True:
            yield batch

    return forever()
