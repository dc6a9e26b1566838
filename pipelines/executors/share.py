"""How a node is shared between the worker processes on it."""

from __future__ import annotations

import os

from pipelines.executors.job import WorkerSlot
from pipelines.gpus import list_gpus


def cpu_share(workers_on_node: int) -> int:
    """Threads for each of `workers_on_node` CPU workers: an equal share of the usable cores."""
    return max(1, len(os.sched_getaffinity(0)) // workers_on_node)


def visible_gpu_for(local_index: int, gpus_on_node: int) -> str | None:
    """The GPU a worker uses (round-robin by its index on the node), as CUDA_VISIBLE_DEVICES wants it."""
    return str(local_index % gpus_on_node) if gpus_on_node else None


def bind_slot(local_index: int, workers_on_node: int) -> WorkerSlot:
    """This process's slot: with GPUs it sees only GPU i mod G (set before TensorFlow or JAX load),
    on a CPU node it gets cores / workers threads."""
    gpu = visible_gpu_for(local_index, len(list_gpus()))
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return WorkerSlot(local_index, gpu, None if gpu is not None else cpu_share(workers_on_node))
