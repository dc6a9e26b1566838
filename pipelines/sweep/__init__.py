"""Sweep executors: run a list of ticket jobs, skipping those already finished, one result per job."""

from __future__ import annotations

from typing import Callable

from pipelines.errors import UserInputError
from pipelines.lth.config import LthConfig
from pipelines.lth.plan import TicketJob
from pipelines.sweep.store import ResultStore

Progress = Callable[[int, int], None]

EXECUTORS = ("serial",)


def run_jobs(executor: str, config: LthConfig, jobs: list[TicketJob], store: ResultStore,
             progress: Progress | None = None) -> list[dict]:
    """Every job's result, in plan order; finished jobs are read back, the rest run on `executor`."""
    if executor not in EXECUTORS:
        raise UserInputError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    pending = [job for job in jobs if not store.finished(job.job_id)]
    done_before = len(jobs) - len(pending)
    if progress:
        progress(done_before, len(jobs))
    report = (lambda done: progress(done_before + done, len(jobs))) if progress else None
    from pipelines.sweep import serial

    serial.run(config, pending, store, report)
    return [store.load(job.job_id) for job in jobs]
