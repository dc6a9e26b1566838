"""How a node is shared between the worker processes on it."""

from __future__ import annotations

import itertools
import os

from pipelines.executors.job import WorkerSlot
from pipelines.gpus import list_gpus

# Both backends take most of a GPU's memory when they start; workers sharing one must take what they use.
GROW_ON_SHARED_GPU = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def cpu_share(workers_on_node: int) -> int:
    """Threads for each of `workers_on_node` CPU workers: an equal share of the usable cores."""
    return max(1, len(os.sched_getaffinity(0)) // workers_on_node)


def given_gpus() -> list[str]:
    """The GPUs this job was given, as CUDA names them: CUDA_VISIBLE_DEVICES when it is set (by SLURM's
    --gres, or by a person: indices, UUIDs or MIG names; empty means none, and CUDA stops at the first
    invalid entry such as -1), else every GPU NVML sees on the node (NVML ignores the variable, so its
    indices are used only when nothing narrowed them)."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is None:
        return [str(gpu["index"]) for gpu in list_gpus()]
    names = [name.strip() for name in given.split(",")]
    return list(itertools.takewhile(lambda name: name and not name.startswith("-"), names))


def bind_slot(local_index: int, workers_on_node: int) -> WorkerSlot:
    """This process's slot: with GPUs it sees only the (i mod G)-th of the G GPUs the job was given
    (set before TensorFlow or JAX load), and where more workers than GPUs share them, its backend
    allocates GPU memory as it needs it instead of taking most of the GPU at start (JAX's 75%,
    TensorFlow's all), which would leave the next worker on that GPU none; on a CPU node, or a job
    given no GPU, it gets cores / workers threads."""
    gpus = given_gpus()
    gpu = gpus[local_index % len(gpus)] if gpus else None
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        if workers_on_node > len(gpus):
            for name, value in GROW_ON_SHARED_GPU.items():
                os.environ.setdefault(name, value)  # a memory setting of the person's own stays
    return WorkerSlot(local_index, gpu, None if gpu is not None else cpu_share(workers_on_node))
