"""PIL decoding in worker processes: batches of image files in, decoded batches out, in order.

What the `processes` pipeline trains on, and what evaluation reads where TensorFlow is not installed.
The parent's share of the work is kept to one copy per batch, because on a GPU machine the same
thread drives the model:

- Workers are spawned, not forked (the parent may run TensorFlow's or JAX's threads, which a fork
  copies broken), call `die_with_parent` first and are daemonic, so a killed parent, an interpreter
  exit and a dropped generator each end them.
- Pixels never travel through a pipe. The parent holds SLOTS batches in one shared block
  (multiprocessing's RawArray: a file in /dev/shm, or in the temp folder when /dev/shm has no room,
  unlinked as soon as it is made, so nothing is left behind even after `kill -9`). Each batch is cut
  into chunks of rows, one task per chunk, each handed to the worker with the fewest tasks; a worker
  decodes straight into its rows and answers with the slot (or the file it could not read).
- Batches are handed out in order, at most SLOTS at a time (the bounded prefetch), and come out in
  that order. A batch is copied out of its slot before the slot takes another, so an array the
  consumer keeps is never written over.
- Each worker has a pipe of its own and no lock is shared, so a worker may be terminated at any
  moment. The parent waits on the pipes and on the workers' sentinels together: a worker that dies
  (killed, out of memory) ends the iteration with an error, never a hang.
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import os
from collections import deque
from multiprocessing.connection import wait
from typing import Iterable, Iterator, Sequence

import numpy as np

from pipelines.data.decode import UnreadableImage, read_image
from pipelines.lifeline import die_with_parent

SLOTS = 3  # batches in flight: while the consumer takes one, two more are being decoded


def decoded_batches(paths: Sequence[str], labels: Sequence[int], batches: Iterable[np.ndarray], size: int,
                    capacity: int, workers: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(uint8 images, int64 labels) for each array of indices in `batches` (none longer than `capacity`),
    decoded at size x size by `workers` processes (default: one per usable core). The workers start at
    the first `next()` and end when the generator ends, raises, is closed or is garbage-collected."""
    workers = workers or len(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    shape = (SLOTS, capacity, size, size, 3)
    block = context.RawArray(ctypes.c_uint8, math.prod(shape))
    pool: list[_Worker] = []
    try:
        pool.extend(_Worker(context, block, shape) for _ in range(workers))
        slots = np.frombuffer(block, np.uint8).reshape(shape)
        yield from _in_order(pool, slots, paths, np.asarray(labels, np.int64), iter(batches),
                             rows=math.ceil(capacity / workers))
    finally:
        for worker in pool:
            worker.stop()


class _Worker:
    def __init__(self, context, block, shape: tuple[int, ...]):
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, block, shape), name="decode-worker", daemon=True)
        self.process.start()
        theirs.close()
        self.tasks = 0  # handed out, not yet answered

    def stop(self) -> None:
        self.pipe.close()
        self.process.terminate()  # nothing it holds outlives it: the block is the parent's, its pipe its own
        self.process.join()


def _in_order(pool: list[_Worker], slots: np.ndarray, paths: Sequence[str], labels: np.ndarray,
              batches: Iterator[np.ndarray], rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    free = list(range(len(slots)))
    ahead: deque[tuple[int, np.ndarray]] = deque()  # (slot, labels) of each batch handed out, in order
    unanswered: dict[int, int] = {}  # slot -> its tasks not yet answered
    problems: dict[int, tuple[str, str]] = {}  # slot -> (path, reason) of a file its workers could not read

    def hand_out() -> None:
        while free and (indices := next(batches, None)) is not None:
            slot = free.pop()
            starts = range(0, len(indices), rows)
            for start in starts:
                worker = min(pool, key=lambda w: w.tasks)
                worker.pipe.send((slot, start, [paths[i] for i in indices[start:start + rows]]))
                worker.tasks += 1
            unanswered[slot] = len(starts)
            ahead.append((slot, labels[indices]))

    hand_out()
    while ahead:
        slot, batch_labels = ahead.popleft()
        while unanswered[slot]:
            _collect(pool, unanswered, problems)
        if slot in problems:
            raise UnreadableImage(*problems[slot])
        images = slots[slot, :len(batch_labels)].copy()
        del unanswered[slot]
        free.append(slot)
        hand_out()
        yield images, batch_labels


def _collect(pool: list[_Worker], unanswered: dict[int, int], problems: dict[int, tuple[str, str]]) -> None:
    """Wait for answers, or for a worker to end, and record them."""
    by_pipe = {w.pipe: w for w in pool}
    by_sentinel = {w.process.sentinel: w for w in pool}
    for ready in wait([*by_pipe, *by_sentinel]):
        if ready in by_sentinel:
            ended = by_sentinel[ready].process
            ended.join()  # it has ended: this only collects its exit code
            raise RuntimeError(f"a decode worker ended unexpectedly (exit code {ended.exitcode})")
        slot, problem = ready.recv()
        by_pipe[ready].tasks -= 1
        unanswered[slot] -= 1
        if problem:
            problems.setdefault(slot, problem)


def _serve(pipe, block, shape: tuple[int, ...]) -> None:
    """Worker side: decode each task's files into its rows of its slot, answer, until the pipe closes."""
    die_with_parent()
    slots = np.frombuffer(block, np.uint8).reshape(shape)
    while True:
        try:
            slot, start, files = pipe.recv()
        except EOFError:
            return
        problem = None
        try:
            for row, path in enumerate(files, start):
                slots[slot, row] = read_image(path, shape[2])
        except UnreadableImage as error:
            problem = (error.path, error.reason)
        pipe.send((slot, problem))
