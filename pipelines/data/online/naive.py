"""The reference's starting point: a Python generator that reads and decodes with PIL, one thread."""

from __future__ import annotations

import numpy as np

from pipelines.data.decode import read_image
from pipelines.data.online.common import PipelineSpec, index_batches
from pipelines.data.source import Split


def build_naive(split: Split, spec: PipelineSpec):
    """A generator of (uint8 images, int64 labels) batches, each read and decoded with PIL when it is
    asked for, in the caller's thread: nothing runs ahead, nothing in parallel."""
    labels = np.asarray(split.labels, np.int64)

    def batches():
        for indices in index_batches(len(split), spec):
            yield np.stack([read_image(split.paths[i], spec.image_size) for i in indices]), labels[indices]

    return batches()
