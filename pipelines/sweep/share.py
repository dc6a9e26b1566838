"""How a node is shared between the sweep workers on it."""

from __future__ import annotations

import os


def cpu_share(workers_on_node: int) -> int:
    """TensorFlow threads for each of `workers_on_node` CPU workers: an equal share of the usable cores."""
    return max(1, len(os.sched_getaffinity(0)) // workers_on_node)


def visible_gpu_for(local_index: int, gpus_on_node: int) -> str | None:
    """The GPU a worker uses (round-robin by its index on the node), as CUDA_VISIBLE_DEVICES wants it."""
    return str(local_index % gpus_on_node) if gpus_on_node else None
