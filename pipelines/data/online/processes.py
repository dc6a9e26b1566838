"""`naive`'s reading and decoding (PIL) in worker processes, one per usable core: every core decodes.

Same visiting order as naive, parallel, vectorized and prefetched (`index_batches`), same pixels as
naive; batches come out in order, at most a few decoded ahead (see pipelines.data.decode_pool). It
needs no TensorFlow. `spec.workers` sets the processes; by default there is one per core this
process may run on, so `taskset -c 0-3 harness run --variant gpu1-processes` decodes with four.
"""

from __future__ import annotations

from pipelines.data.decode_pool import decoded_batches
from pipelines.data.online.common import PipelineSpec, index_batches
from pipelines.data.source import Split


def build_processes(split: Split, spec: PipelineSpec):
    """A generator of (uint8 images, int64 labels) batches decoded by PIL in `spec.workers` processes."""
    return decoded_batches(split.paths, split.labels, index_batches(len(split), spec), spec.image_size,
                           spec.batch_size, spec.workers)
