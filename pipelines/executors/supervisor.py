"""Worker processes that run jobs one at a time, watched so that a worker that dies costs only its job.

A worker can end without a word: the kernel's out-of-memory killer sends SIGKILL, a library
segfaults, native code calls exit. concurrent.futures' pool then breaks as a whole (every job in
flight lost, none recorded, the rest never run). Here each worker has a pipe of its own, and the
parent waits on the pipes and on the workers' sentinels together (as pipelines.data.decode_pool
does): a worker answers with the job's id once `execute` has stored its result, and a worker that
ends without answering has its job stored as failed, naming how it ended (the signal, or the exit
status) and the most memory it was seen holding, sampled while it ran (the kernel's own peak is
gone with the process). The next job handed to that slot starts a fresh worker with the same
binding (the same GPU or share of cores). A rerun retries the failed job, as any unfinished one.

Workers are spawned, never forked (the parent may hold TensorFlow's or MPI's threads), call
`die_with_parent` first, then bind their slot before anything loads TensorFlow, and stay up across
jobs so that compiled models are kept (pipelines.train.warm). They are not daemonic: a job may
start processes of its own (the `processes` input pipeline's decoders). They write results
themselves, so a killed parent loses only the jobs in flight.

A stop (pipelines.stop: SIGTERM, SIGINT, SIGUSR1 to the parent) is passed on to the busy workers
as SIGUSR1: each saves its training's state at its next step boundary and exits with the stopped
status, unanswered, so its job stays unfinished and a rerun continues it on any worker. The parent
waits for them for the grace period, then kills what is left. If anything else raises in the parent
while jobs run (a failing progress callback, a bug), every worker is killed and reaped before it
propagates. Either way no worker outlives the supervisor, and SIGKILL is enough: a worker holds
nothing that needs clean-up (results and states are written atomically).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable, Sequence

import psutil

from pipelines import stop
from pipelines.executors.job import WorkerSlot, execute, failure
from pipelines.executors.store import ResultStore
from pipelines.lifeline import die_with_parent

SAMPLE_SECONDS = 0.5  # how often a busy worker's resident memory is read while the parent waits
RETIRE_SECONDS = 30  # how long idle workers may take to exit by themselves (flushing output) before a kill

Binding = Callable[[], WorkerSlot]  # picklable; binds the worker's slot of the node, in the worker


class Supervisor:
    """One worker slot per binding, a worker started in a slot when a job is first handed to it.
    Use it as a context manager: leaving it ends the workers, at once if something raised."""

    def __init__(self, job_fn, store: ResultStore, bindings: Sequence[Binding]):
        self.job_fn, self.store, self.bindings = job_fn, store, bindings
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker | None] = [None] * len(bindings)  # by slot

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is None:  # every job is stored: idle workers end at their pipe's end-of-file
                for worker in self._started():
                    worker.pipe.close()
                for worker in self._started():
                    worker.process.join(RETIRE_SECONDS)
            elif stop.received() is not None:
                self._let_busy_workers_save()
        finally:
            for worker in self._started():
                worker.kill()

    def _let_busy_workers_save(self) -> None:
        """Pass the stop on to the busy workers and wait, within the grace period, for them to end."""
        busy = self._busy()
        for worker in busy:
            with contextlib.suppress(ProcessLookupError):  # ended already
                os.kill(worker.process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + stop.grace()
        for worker in busy:
            worker.process.join(max(0.0, deadline - time.monotonic()))

    def run(self, jobs: Sequence, report: Callable[[int], None] | None = None) -> None:
        """Run `jobs` in the order given, each on the first free slot; `report(done)` after each ends,
        whether it was stored as done or failed."""
        waiting, done = deque(jobs), 0
        while waiting or self._busy():
            for slot, worker in enumerate(self.workers):
                if waiting and (worker is None or worker.job is None):
                    self._hand(slot, waiting.popleft())
            for _ in range(self._collect()):
                done += 1
                if report:
                    report(done)

    def _started(self) -> list[_Worker]:
        return [worker for worker in self.workers if worker is not None]

    def _busy(self) -> list[_Worker]:
        return [worker for worker in self._started() if worker.job is not None]

    def _hand(self, slot: int, job) -> None:
        worker = self.workers[slot]
        if worker is None or not worker.process.is_alive():  # never started, or ended while idle
            if worker is not None:
                worker.kill()  # reaps it and closes its pipe
            worker = self.workers[slot] = _Worker(self.context, self.job_fn, self.store.folder, self.bindings[slot])
        worker.take(job)

    def _collect(self) -> int:
        """Wait until busy workers answer or end, sampling their memory meanwhile; store the jobs of
        those that ended; return how many jobs finished."""
        busy = self._busy()
        handles = {handle: worker for worker in busy for handle in (worker.pipe, worker.process.sentinel)}
        while True:
            for worker in busy:
                worker.sample()
            if ready := wait(list(handles), timeout=SAMPLE_SECONDS):
                break
        finished = 0
        for worker in dict.fromkeys(handles[handle] for handle in ready):
            job = worker.job
            worker.job = None
            finished += 1
            if worker.answered() is None:
                self._record_death(worker, job)
        return finished

    def _record_death(self, worker: _Worker, job) -> None:
        """Store the job of a worker that ended without answering as failed, unless its result was
        stored already (it ended between storing and answering); the slot gets a fresh worker later."""
        worker.kill()
        line = f"worker process {worker.process.pid} died: {ending(worker.process.exitcode)}"
        if worker.peak:
            line += f", peak memory at least {worker.peak // 2**20} MiB (sampled)"
        if not self.store.finished(job.job_id):
            self.store.save(failure(job.describe(), line))


def ending(exitcode: int) -> str:
    """How a process ended, from multiprocessing's exit code (minus the signal number if one killed it)."""
    if exitcode == stop.STOPPED_STATUS:
        return f"stopped by a signal (exit status {exitcode}): its training state is saved; a rerun continues it"
    if exitcode >= 0:
        return f"exit status {exitcode}"
    number = -exitcode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "an unknown signal"
    hint = " (out of memory?)" if number == signal.SIGKILL else ""  # what the kernel's OOM killer sends
    return f"killed by {name} (signal {number}){hint}"


class _Worker:
    """The parent's handle on one worker process: its pipe, its job in flight, its sampled peak memory."""

    def __init__(self, context, job_fn, results: Path, binding: Binding):
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, job_fn, results, binding), name="job-worker")
        self.process.start()
        theirs.close()
        self.job = None
        self.peak = 0  # bytes: the most resident memory seen
        self.watch = psutil.Process(self.process.pid)

    def take(self, job) -> None:
        self.job = job
        try:
            self.pipe.send(job)
        except OSError:  # it ended since it was seen alive: its sentinel reports it, with this job
            pass

    def answered(self) -> str | None:
        """The job id the worker answered with, or None if it ended without answering."""
        try:
            return self.pipe.recv() if self.pipe.poll() else None
        except (EOFError, OSError):  # the pipe reports end-of-file: the worker is gone
            return None

    def sample(self) -> None:
        try:
            self.peak = max(self.peak, self.watch.memory_info().rss)
        except psutil.Error:  # ended since: its sentinel says so next
            pass

    def kill(self) -> None:
        """End it now (a no-op for one already ended) and reap it."""
        self.process.kill()
        self.process.join()
        self.pipe.close()


def _serve(pipe, job_fn, results: Path, binding: Binding) -> None:
    """Worker side: run each job handed over, store its result, answer with its id; end when the pipe closes."""
    die_with_parent()
    stop.stop_on_signals(worker=True)
    slot, store = binding(), ResultStore(results)
    try:
        while True:
            try:
                job = pipe.recv()
            except EOFError:
                return
            execute(job_fn, job, slot, store)
            pipe.send(job.job_id)
    except stop.Stopped:  # the job's training saved its state (pipelines.train.resumable_fit): no answer
        sys.exit(stop.STOPPED_STATUS)
