"""Sweep executors: run a list of ticket jobs, skipping those already finished, one result per job.

| executor | where the jobs run |
|---|---|
| serial | one after another in this process |
| multiprocessing | a pool of `workers` processes on this node (multiprocess.py) |
| mpi | every MPI rank, jobs handed out through a shared counter (mpi.py) |
| elephas | one after another, each trained data-parallel by Elephas on Spark (elephas.py) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipelines.errors import UserInputError
from pipelines.lth.config import LthConfig
from pipelines.lth.plan import TicketJob
from pipelines.sweep.store import ResultStore

Progress = Callable[[int, int], None]

EXECUTORS = ("serial", "multiprocessing", "mpi", "elephas")


@dataclass(frozen=True)
class SweepSettings:
    executor: str = "serial"
    workers: int = 2  # multiprocessing: processes; elephas: Spark partitions; mpi: ranks when relaunching
    quiet: bool = True
    spark_master: str | None = None  # elephas: a cluster's master URL (default: local mode)

    def validate(self) -> None:
        if self.executor not in EXECUTORS:
            raise UserInputError(f"unknown executor {self.executor!r}: choose one of {', '.join(EXECUTORS)}")
        if self.workers < 1:
            raise UserInputError("--workers must be at least 1")


def run_jobs(sweep: SweepSettings, config: LthConfig, jobs: list[TicketJob], store: ResultStore, team,
             progress: Progress | None = None) -> list[dict]:
    """Every job's result, in plan order; finished jobs are read back, the rest run on `executor`."""
    pending_ids = team.leader_does(lambda: [job.job_id for job in jobs if not store.finished(job.job_id)])
    # Longest first: the early-rewind tickets retrain the most epochs, and handing them out first keeps
    # the last wave short when there are more tickets than workers (see harness.planner).
    pending = sorted((job for job in jobs if job.job_id in set(pending_ids)), key=lambda job: -job.epochs)
    done_before = len(jobs) - len(pending)
    if progress:
        progress(done_before, len(jobs))
    report = (lambda done: progress(done_before + done, len(jobs))) if progress else None
    if sweep.executor == "mpi":
        team.run(config, pending, store, report)
    elif sweep.executor == "multiprocessing":
        from pipelines.sweep import multiprocess

        multiprocess.run(config, pending, store, report, sweep.workers)
    elif sweep.executor == "elephas":
        from pipelines.sweep import elephas

        elephas.run(config, pending, store, report, sweep.workers, sweep.quiet, sweep.spark_master)
    else:
        from pipelines.sweep import serial

        serial.run(config, pending, store, report)
    return team.leader_does(lambda: [store.load(job.job_id) for job in jobs])
