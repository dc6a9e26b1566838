"""Executors: run a list of jobs with a job function, skipping those finished, one result per job.

They know nothing of what the jobs are (see job.py): the lottery-ticket search hands them
`functools.partial(run_ticket, config)` and its ticket jobs. Every executor is one module with
`run(job_fn, jobs, store, report, workers, team)`, registered here with a one-line summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipelines.capacity import WORKERS_HELP
from pipelines.errors import UserInputError
from pipelines.executors import mpi, pool, serial
from pipelines.executors.job import Job, JobFunction
from pipelines.executors.store import ResultStore
from pipelines.registry import Registry
from pipelines.settings import setting

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Executor:
    run: Callable  # (job_fn, jobs, store, report, workers, team) -> None
    variant: str  # its `sweep-*` variant's suffix


EXECUTORS: Registry[Executor] = Registry("executor")
EXECUTORS.add("serial", Executor(serial.run, "serial"), "one job after another in this process (the baseline)")
EXECUTORS.add("multiprocessing", Executor(pool.run, "mp"), "a pool of --workers processes on this node")
EXECUTORS.add("mpi", Executor(mpi.run, "mpi"),
              "every MPI rank (mpiexec -n --workers, or srun), jobs handed out by rank 0")


@dataclass(frozen=True)
class ExecutorSettings:
    executor: str = setting("serial", "How tickets run.", choices=EXECUTORS)
    workers: int = setting(2, "multiprocessing: processes; mpi: ranks when relaunching; elephas: Spark partitions. "
                              f"{WORKERS_HELP}")

    def validate(self) -> None:
        EXECUTORS.entry(self.executor)
        if self.workers < 1:
            raise UserInputError("--workers must be at least 1")


def run_jobs(settings: ExecutorSettings, job_fn: JobFunction, jobs: list[Job], store: ResultStore, team,
             progress: Progress | None = None) -> list[dict]:
    """Every job's result, in plan order; finished jobs are read back, the rest run on the executor."""
    pending_ids = team.leader_does(lambda: [job.job_id for job in jobs if not store.finished(job.job_id)])
    # Costliest first: when there are more jobs than workers, handing out the long ones first keeps the
    # last wave short (see harness.planner).
    pending = sorted((job for job in jobs if job.job_id in set(pending_ids)), key=lambda job: -job.cost)
    done_before = len(jobs) - len(pending)
    if progress:
        progress(done_before, len(jobs))
    report = (lambda done: progress(done_before + done, len(jobs))) if progress else None
    EXECUTORS[settings.executor].run(job_fn, pending, store, report, settings.workers, team)
    return team.leader_does(lambda: [store.load(job.job_id) for job in jobs])
