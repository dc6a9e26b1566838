"""The baseline executor, one job after another in this process, and the one way any executor runs a job."""

from __future__ import annotations

from pipelines.lth.ticket import keras_fit, run_ticket
from pipelines.sweep.store import failure


def execute(config, job, store, fit=keras_fit, masking: str | None = None) -> dict:
    """Run one job and store its result; a job that raises is stored as failed and the sweep goes on."""
    try:
        result = run_ticket(config, job, fit, masking)
    except Exception as error:
        result = failure(job.describe(), error)
    store.save(result)
    return result


def run(config, jobs, store, report=None, fit=keras_fit, masking: str | None = None) -> None:
    for done, job in enumerate(jobs, start=1):
        execute(config, job, store, fit, masking)
        if report:
            report(done)
