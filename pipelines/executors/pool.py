"""The `multiprocessing` executor: a pool of worker processes on one node, handed jobs one at a time
as they free up.

Each worker is started (spawned, not forked) with its slot of the node before TensorFlow loads
(`share.bind_slot`): on a GPU node worker i sees only GPU i mod G; on CPUs it gets cores // workers
threads, so that N workers do not fight over the same cores. Results are written by the workers
themselves, so killing the parent loses only the jobs in flight; the workers end with
the parent (pipelines.lifeline), so none goes on training where a rerun trains the same job.

The slot numbers travel in a SimpleQueue handed to each worker when it is spawned, not in a
Manager's queue: a Manager is one more process (a server) that would outlive a killed parent.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from pipelines.executors.job import execute
from pipelines.executors.share import bind_slot
from pipelines.executors.store import ResultStore
from pipelines.lifeline import die_with_parent

_worker = None  # this worker process's (job function, slot, store)


def _start_worker(job_fn, results: Path, slots, workers: int) -> None:
    global _worker
    die_with_parent()
    _worker = (job_fn, bind_slot(slots.get(), workers), ResultStore(results))


def _run_one(job) -> str:
    job_fn, slot, store = _worker
    execute(job_fn, job, slot, store)
    return job.job_id


def run(job_fn, jobs, store, report=None, workers: int = 2, team=None) -> None:
    if not jobs:
        return
    context = multiprocessing.get_context("spawn")
    slots = context.SimpleQueue()
    for slot in range(workers):
        slots.put(slot)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                             initargs=(job_fn, store.folder, slots, workers)) as pool:
        futures = [pool.submit(_run_one, job) for job in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            future.result()
            if report:
                report(done)
