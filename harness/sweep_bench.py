"""Timing a sweep executor: a fixed grid of ticket jobs run through `harness lth`, start to finish.

The dense run and its masks are made once per (data, workload, seed) and kept in the temp folder;
each measurement copies them into a fresh folder and runs `harness lth --executor X` there as a
subprocess, so every executor pays what a user pays (process start-up, Keras and backend imports in
its workers, mpiexec or Spark) and retrains exactly the same jobs. The makespan is that subprocess's
wall time; throughput counts the training images of all jobs over it. The dense run, the masks and
the tickets all train on one Keras backend, the run's (`--backend`): a search folder's identity
includes it, so each backend has its own prepared search.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.timing import StepStats
from pipelines.data.shards import open_source
from pipelines.lth.config import LthConfig
from pipelines.lth.prepare import prepare
from pipelines.train.placement import PlacementSpec

GRID = {"epochs": 2, "rewinds": (0, 1), "sparsities": (0.5, 0.8), "scope": "layer"}
THREADS_PER_JOB = 1  # single-threaded jobs, serial included: speedups then measure the executor alone


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


def prepared_search(data: Path, workload: str, seed: int, backend: str, log) -> Path:
    """The grid's dense run and masks on `backend` (this process's Keras backend), made once and reused
    by every sweep variant."""
    data = str(Path(data).resolve())
    key = hashlib.sha1(json.dumps([data, workload, seed, backend, GRID], default=list).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"lth-harness-sweep-{key}"
    config = LthConfig(data=data, out=str(folder), workload=workload, epochs=GRID["epochs"],
                       rewinds=GRID["rewinds"], sparsities=GRID["sparsities"], scope=GRID["scope"], seed=seed,
                       placement=PlacementSpec(backend=backend))
    prepare(config, log, [])  # skips what is already there
    return folder


def time_sweep(executor: str, workers: int, data: Path, workload: str, seed: int, backend: str, on_step=None,
               log=lambda line: None) -> tuple[StepStats, dict]:
    prepared = prepared_search(data, workload, seed, backend, log)
    with tempfile.TemporaryDirectory(prefix="lth-harness-sweep-run-") as scratch:
        out = Path(scratch) / "search"
        shutil.copytree(prepared, out, ignore=shutil.ignore_patterns("jobs", "summary.json"))
        command = lth_command(executor, workers, data, workload, seed, backend, out)
        jobs = len(GRID["sparsities"]) * len(GRID["rewinds"])
        launched_at = time.time()
        started = time.perf_counter()
        with _watching(out / "jobs", jobs, on_step):
            result = subprocess.run(command, capture_output=True, text=True)
        makespan = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"the {executor} sweep failed: {result.stderr.strip().splitlines()[-1:]}")
        summary = json.loads(result.stdout.splitlines()[-1])
        results = [json.loads(p.read_text()) for p in sorted((out / "jobs").glob("*.json"))]
    dense = json.loads((prepared / "dense.json").read_text())
    images = sum(r["epochs_trained"] for r in results) * _images_per_epoch(prepared, dense)
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


def _images_per_epoch(prepared: Path, dense: dict) -> int:
    sidecar = json.loads((prepared / "checkpoints" / "final.json").read_text())
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
