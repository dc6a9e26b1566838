"""A pool of worker processes on one node, handed jobs one at a time as they free up.

Each worker is started (spawned, not forked) with its share of the node before TensorFlow loads:
on a GPU node worker i sees only GPU i mod G; on CPUs each worker's TensorFlow and tf.data get
cores // workers threads, so that N workers do not fight over the same cores. Results are written
by the workers themselves, so killing the parent loses only the jobs in flight; the workers end with
the parent (pipelines.lifeline), so none goes on training where a rerun trains the same job.

The slot numbers travel in a SimpleQueue handed to each worker when it is spawned, not in a
Manager's queue: a Manager is one more process (a server) that would outlive a killed parent.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

from pipelines.gpus import list_gpus
from pipelines.lifeline import die_with_parent
from pipelines.sweep.share import cpu_share, visible_gpu_for

_config = None  # this worker's config, with its thread share


def _start_worker(config, slots, gpus: int, workers: int) -> None:
    global _config
    die_with_parent()
    slot = slots.get()
    gpu = visible_gpu_for(slot, gpus)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    threads = config.placement.threads or (None if gpu is not None else cpu_share(workers))
    _config = dataclasses.replace(config, placement=dataclasses.replace(config.placement, threads=threads))


def _run_one(job):
    from pipelines.sweep.serial import execute
    from pipelines.sweep.store import ResultStore

    execute(_config, job, ResultStore(_config.root / "jobs"))
    return job.job_id


def run(config, jobs, store, report=None, workers: int = 2) -> None:
    if not jobs:
        return
    gpus = len(list_gpus())
    context = multiprocessing.get_context("spawn")
    slots = context.SimpleQueue()
    for slot in range(workers):
        slots.put(slot)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                             initargs=(config, slots, gpus, workers)) as pool:
        futures = [pool.submit(_run_one, job) for job in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            future.result()
            if report:
                report(done)
