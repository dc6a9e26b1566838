"""Run one function over a list of tasks, each task a partition, on Spark or on a local process pool.

The offline jobs (preprocessing, download) express their work as a module-level function of one
task; the engine decides where it runs, so the two engines do the same work and can be compared.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pipelines.capacity import WORKERS_HELP
from pipelines.errors import UserInputError
from pipelines.lifeline import die_with_parent
from pipelines.registry import Registry
from pipelines.settings import setting


@dataclass(frozen=True)
class EngineSettings:
    engine: str = setting("spark", "Where the tasks run.", choices=lambda: ENGINES.names())
    workers: int | None = setting(None, f"local: processes (default: one per usable core). {WORKERS_HELP}")
    spark_master: str | None = setting(None, "spark: a cluster's master URL (default: local[*]).")
    quiet: bool = True

    def validate(self) -> None:
        ENGINES.entry(self.engine)
        if self.workers is not None and self.workers < 1:
            raise UserInputError("--workers must be at least 1")


Progress = Callable[[int, int], None]


def map_tasks(func: Callable[[Any], Any], tasks: Sequence, settings: EngineSettings,
              progress: Progress | None = None) -> list:
    """`[func(t) for t in tasks]`, computed by the engine; results come back in task order."""
    settings.validate()
    if not tasks:
        return []
    return ENGINES[settings.engine](func, tasks, settings, progress)


def _on_pool(func, tasks, settings: EngineSettings, progress: Progress | None) -> list:
    workers = settings.workers or len(os.sched_getaffinity(0))
    # spawn, not fork: the parent may hold TensorFlow or JVM threads that a fork would copy broken
    context = multiprocessing.get_context("spawn")
    results: list = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context,
                             initializer=_start_worker, initargs=(settings.quiet,)) as pool:
        futures = {pool.submit(func, task): i for i, task in enumerate(tasks)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress:
                progress(done, len(tasks))
    return results


def _start_worker(quiet: bool) -> None:
    """Bind the worker's life to this process (see pipelines.lifeline); when quiet, drop what native
    libraries print to stderr (the worker's exceptions still reach the parent)."""
    die_with_parent()
    if quiet:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)


def _on_spark(func, tasks, settings: EngineSettings, progress: Progress | None) -> list:
    from pipelines.spark import spark_session

    context = spark_session(settings.spark_master, quiet=settings.quiet).sparkContext
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_spark, args=(context, len(tasks), progress, stop), daemon=True)
    if progress:
        watcher.start()
    try:
        return context.parallelize(list(tasks), len(tasks)).map(func).collect()
    finally:
        stop.set()
        if progress:
            watcher.join()
            progress(len(tasks), len(tasks))


def _watch_spark(context, total: int, progress: Progress, stop: threading.Event) -> None:
    tracker = context.statusTracker()
    while not stop.wait(0.5):
        done = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info:
                done += info.numCompletedTasks
        progress(min(done, total), total)


ENGINES: Registry[Callable] = Registry("engine")
ENGINES.add("spark", _on_spark, "Spark (local mode unless --spark-master names a cluster)")
ENGINES.add("local", _on_pool, "a local process pool")
