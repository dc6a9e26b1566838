"""The baseline executor: one job after another in this process."""

from __future__ import annotations

from pipelines.lth.ticket import run_ticket
from pipelines.sweep.store import failure


def run(config, jobs, store, report=None) -> None:
    for done, job in enumerate(jobs, start=1):
        try:
            result = run_ticket(config, job)
        except Exception as error:  # one broken job must not stop the sweep
            result = failure(job.describe(), error)
        store.save(result)
        if report:
            report(done)
