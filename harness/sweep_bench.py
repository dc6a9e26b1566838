"""Timing a sweep executor: a fixed grid of ticket jobs run through `harness lth`, start to finish.

The dense run and its masks are made once per (data, workload, seed) and kept in the temp folder;
each measurement copies them into a fresh folder and runs `harness lth --executor X` there as a
subprocess, so every executor pays what a user pays (process start-up, Keras and backend imports in
its workers, mpiexec or Spark) and retrains exactly the same jobs. The makespan is that subprocess's
wall time; throughput counts the training images of all jobs over it. The dense run, the masks and
the tickets all train on one Keras backend, the run's (`--backend`): a search folder's identity
includes it, so each backend has its own prepared search. One benchmark at a time prepares and copies
a prepared search (`prepared_search`), and the child search never outlives the benchmark
(`_run_to_the_end`).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

from harness.timing import StepStats
from pipelines.data.shards import open_source
from pipelines.folder_lock import LOCK_NAME, holding
from pipelines.lth.config import LthConfig
from pipelines.lth.prepare import prepare
from pipelines.train.placement import PlacementSpec

GRID = {"epochs": 2, "rewinds": (0, 1), "sparsities": (0.5, 0.8), "scope": "layer"}
THREADS_PER_JOB = 1  # single-threaded jobs, serial included: speedups then measure the executor alone
PR_SET_PDEATHSIG = 1  # prctl's option, from <linux/prctl.h>


def grid_arguments() -> list[str]:
    return ["--epochs", str(GRID["epochs"]), "--rewind", ",".join(map(str, GRID["rewinds"])),
            "--sparsity", ",".join(map(str, GRID["sparsities"])), "--scope", GRID["scope"],
            "--threads", str(THREADS_PER_JOB)]


def lth_command(executor: str, workers: int, data: Path, workload: str, seed: int, backend: str,
                out: Path) -> list[str]:
    """The `harness lth` command that runs the grid's tickets in `out` (prepared), on `backend`."""
    return [sys.executable, "-m", "harness.cli", "lth", "--data", str(Path(data).resolve()), "--workload", workload,
            "--seed", str(seed), *grid_arguments(), "--backend", backend, "--executor", executor, "--out", str(out),
            "--json", *(["--workers", str(workers)] if executor != "serial" else [])]


def prepared_folder(data: Path, workload: str, seed: int, backend: str) -> Path:
    """Where the grid's dense run and masks for these settings are kept, in the temp folder."""
    data = str(Path(data).resolve())
    key = hashlib.sha1(json.dumps([data, workload, seed, backend, GRID], default=list).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"lth-harness-sweep-{key}"


@contextlib.contextmanager
def prepared_search(data: Path, workload: str, seed: int, backend: str, log) -> Iterator[Path]:
    """The grid's dense run and masks on `backend` (this process's Keras backend), made once and reused
    by every sweep variant; the block reads (copies) them. Every sweep benchmark on the machine shares
    the folder, so this one holds its lock (pipelines.folder_lock) meanwhile: a second benchmark would
    train the same dense run into the same files, and is refused in one line naming this one."""
    folder = prepared_folder(data, workload, seed, backend)
    config = LthConfig(data=str(Path(data).resolve()), out=str(folder), workload=workload, epochs=GRID["epochs"],
                       rewinds=GRID["rewinds"], sparsities=GRID["sparsities"], scope=GRID["scope"], seed=seed,
                       placement=PlacementSpec(backend=backend))
    with holding(folder, "the sweep benchmark's prepared search"):
        prepare(config, log, [])  # skips what is already there
        yield folder


class SweepFailed(RuntimeError):
    """The sweep's `harness lth` exited with an error; the message names the folder it ran in, kept."""


def time_sweep(executor: str, workers: int, data: Path, workload: str, seed: int, backend: str, on_step=None,
               log=lambda line: None) -> tuple[StepStats, dict]:
    jobs = len(GRID["sparsities"]) * len(GRID["rewinds"])
    with _scratch() as scratch:
        out = scratch / "search"
        with prepared_search(data, workload, seed, backend, log) as prepared:
            shutil.copytree(prepared, out, ignore=shutil.ignore_patterns("jobs", "summary.json", LOCK_NAME))
        launched_at = time.time()
        started = time.perf_counter()
        with _watching(out / "jobs", jobs, on_step):
            stdout = _run_to_the_end(lth_command(executor, workers, data, workload, seed, backend, out), executor,
                                     scratch)
        makespan = time.perf_counter() - started
        summary = json.loads(stdout.splitlines()[-1])
        results = [json.loads(p.read_text()) for p in sorted((out / "jobs").glob("*.json"))]
        images = sum(r["epochs_trained"] for r in results) * _images_per_epoch(out)
    stats = StepStats.of(images, makespan, [r["train_seconds"] for r in results])
    return stats, {
        "sweep": {"executor": executor, "workers": 1 if executor == "serial" else workers, "jobs": len(results),
                  "grid": GRID,
                  "makespan_s": makespan, "jobs_per_hour": len(results) * 3600 / makespan,
                  "job_seconds": {r["job_id"]: r["train_seconds"] for r in results},
                  "launched_at": launched_at,
                  "job_spans": {r["job_id"]: [r["started_at"] - launched_at, r["finished_at"] - launched_at,
                                              r["epochs_trained"]] for r in results},
                  "job_workers": {r["job_id"]: [r["worker"]["host"], r["worker"]["pid"]] for r in results},
                  "hosts_and_pids": sorted({(r["worker"]["host"], r["worker"]["pid"]) for r in results}),
                  "tickets": summary["tickets"]},
    }


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh temp folder for one measurement, removed however the measurement ends (a stop included),
    except after a failed sweep: its error names the folder, for a person to look into."""
    folder = Path(tempfile.mkdtemp(prefix="lth-harness-sweep-run-"))
    kept = False
    try:
        yield folder
    except SweepFailed:
        kept = True
        raise
    finally:
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)


def _run_to_the_end(command: list[str], executor: str, scratch: Path) -> str:
    """Run the sweep's `harness lth`; its stdout. The child never outlives this process: when a stop
    (pipelines.stop) or anything else ends the wait, its process group (the child, and the pool
    workers, mpiexec or Spark it started) is killed and the child waited for before the error goes
    on; when this process dies without a word (SIGKILL), the kernel kills the child (PDEATHSIG), and
    what it started ends with it (pool workers' lifelines, mpiexec's proxies, Spark's stdin pipe).
    Its own process group also keeps a terminal's Ctrl-C to this process, which then does the above;
    with no stdin, mpiexec in that background group never stops to read the terminal."""
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, process_group=0, preexec_fn=_killed_with_this_process())
    try:
        stdout, stderr = child.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        raise
    if child.returncode != 0:
        last = stderr.strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
        raise SweepFailed(f"the {executor} sweep failed: {last[0]} (its folder is kept: {scratch})")
    return stdout


def _killed_with_this_process():
    """preexec_fn for a child that the kernel kills (SIGKILL) when this process dies. PDEATHSIG fires
    when the *thread* that started the child ends (pipelines.lifeline says why pools cannot use it);
    here that thread waits for the child until it is gone, so only this process's death fires it. It
    survives exec (mpiexec's, in the mpi executor). Checking the parent after setting it closes the
    window in which this process died before the child asked."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    parent, kill = os.getpid(), int(signal.SIGKILL)

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, kill)
        if os.getppid() != parent:
            os._exit(1)

    return in_child


def _images_per_epoch(search: Path) -> int:
    dense = json.loads((search / "dense.json").read_text())
    sidecar = json.loads((search / "checkpoints" / "final.json").read_text())
    train = len(open_source(sidecar["data"]).split("train"))
    return (train // dense["global_batch"]) * dense["global_batch"]


class _watching:
    """Reports finished jobs (result files appearing) while the sweep runs in its subprocess."""

    def __init__(self, folder: Path, total: int, on_step):
        self.folder, self.total, self.on_step = folder, total, on_step
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.wait(1.0):
            self.on_step(len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0, self.total)

    def __enter__(self):
        if self.on_step:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.on_step:
            self.thread.join()
