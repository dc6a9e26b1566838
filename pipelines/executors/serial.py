"""The baseline executor: one job after another in this process, with all of the node."""

from __future__ import annotations

from pipelines.executors.job import WorkerSlot, execute


def run(job_fn, jobs, store, report=None, workers: int = 1, team=None) -> None:
    for done, job in enumerate(jobs, start=1):
        execute(job_fn, job, WorkerSlot(), store)
        if report:
            report(done)
