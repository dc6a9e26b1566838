"""What executors know of a job, and the one way any executor runs one.

A job is anything with a stable `job_id` (it names the result file, so a rerun can skip it), a
`cost` (executors hand out the costliest first) and `describe()` (what its result records if it
raises or its worker process dies). A job function is `job_fn(job, slot) -> result dict` and must be
picklable (a module-level function, or a functools.partial of one) so that pool workers and MPI
ranks' workers can run it; `slot` is the WorkerSlot the executor gave the process running it.
Executors know nothing else of the jobs.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable, Protocol

from pipelines import stop
from pipelines.executors.store import ResultStore


class Job(Protocol):
    job_id: str

    @property
    def cost(self) -> float: ...

    def describe(self) -> dict: ...


@dataclass(frozen=True)
class WorkerSlot:
    """The share of the node a worker process runs with, bound before TensorFlow or JAX load."""

    index: int = 0  # the worker's position on its node
    gpu: str | None = None  # the GPU it sees (one of those the job was given), or None: all of them, or none
    threads: int | None = None  # its thread share on a CPU node; None: all the cores


JobFunction = Callable[[Job, WorkerSlot], dict]


def execute(job_fn: JobFunction, job: Job, slot: WorkerSlot, store: ResultStore) -> dict:
    """Run one job and store its result; a job that raises is stored as failed and the sweep goes on."""
    try:
        result = job_fn(job, slot)
    except Exception as error:
        if stop.received() is not None:  # a stop that native code turned into another error: still a stop
            raise stop.received() from error
        result = failure(job.describe(), f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
    store.save(result)
    return result


def failure(job_description: dict, error: str, **details) -> dict:
    """The result of a job that failed (it raised, or its worker process died): recorded, so the
    others go on, the summary names it and a rerun retries it. `error` is one line."""
    return {**job_description, "status": "failed", "error": error, **details}
