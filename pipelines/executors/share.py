"""How a node is shared between the worker processes on it."""

from __future__ import annotations

import os

from pipelines.executors.job import WorkerSlot
from pipelines.gpus import list_gpus

# Both backends take most of a GPU's memory when they start; workers sharing one must take what they use.
GROW_ON_SHARED_GPU = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def cpu_share(workers_on_node: int) -> int:
    """Threads for each of `workers_on_node` CPU workers: an equal share of the usable cores."""
    return max(1, len(os.sched_getaffinity(0)) // workers_on_node)


def visible_gpu_for(local_index: int, gpus_on_node: int) -> str | None:
    """The GPU a worker uses (round-robin by its index on the node), as CUDA_VISIBLE_DEVICES wants it."""
    return str(local_index % gpus_on_node) if gpus_on_node else None


def bind_slot(local_index: int, workers_on_node: int) -> WorkerSlot:
    """This process's slot: with GPUs it sees only GPU i mod G (set before TensorFlow or JAX load),
    and where more workers than GPUs share them, its backend allocates GPU memory as it needs it
    instead of taking most of the GPU at start (JAX's 75%, TensorFlow's all), which would leave the
    next worker on that GPU none; on a CPU node it gets cores / workers threads."""
    gpus = len(list_gpus())
    gpu = visible_gpu_for(local_index, gpus)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        if workers_on_node > gpus:
            for name, value in GROW_ON_SHARED_GPU.items():
                os.environ.setdefault(name, value)  # a memory setting of the person's own stays
    return WorkerSlot(local_index, gpu, None if gpu is not None else cpu_share(workers_on_node))
