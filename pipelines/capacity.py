"""What this machine can hold: the bounds on --workers (processes) and --threads.

A worker process that imports TensorFlow and decodes images holds about 640 MB before it trains
(measured on a `smoke` ticket), so 16 preprocess workers on a 2-core machine took 12 GB and ran no
faster than 2. Each option is refused above its bound in one line that says the bound and why;
`--help` states it.
"""

from __future__ import annotations

import os

import psutil

from pipelines.errors import UserInputError

WORKER_MEMORY = 2**30  # bytes a worker process is given room for: ~640 MB measured, with headroom
WORKERS_HELP = "At most one per usable core, and 1 GiB of free memory each."
THREADS_HELP = "At most the usable cores."


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def check_workers(workers: int | None, flag: str = "--workers") -> None:
    """Refuse a number of worker processes below 1 or above what the cores and free memory hold."""
    if workers is None:
        return
    if workers < 1:
        raise UserInputError(f"{flag} must be at least 1")
    cores, free = usable_cores(), psutil.virtual_memory().available
    bound = max(1, min(cores, free // WORKER_MEMORY))
    if workers > bound:
        raise UserInputError(f"{flag} {workers} is more than this machine holds ({cores} usable core(s), "
                             f"{free / 2**30:.1f} GiB free at 1 GiB per worker): give at most {bound}")


def check_threads(threads: int | None, flag: str = "--threads") -> None:
    if threads is None:
        return
    if threads < 1:
        raise UserInputError(f"{flag} must be at least 1")
    if threads > usable_cores():
        raise UserInputError(f"{flag} {threads} is more than the {usable_cores()} usable core(s) of this machine: "
                             f"give at most {usable_cores()}")
