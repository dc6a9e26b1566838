"""The scale planner: a sweep's makespan, GPU-hours and idle share on W = nodes x GPUs workers.

A ticket rewound to epoch k retrains `epochs - k` epochs, so its wall time is modelled as
`overhead + epochs_trained x epoch_s` (overhead: building, loading and evaluating the model). Each
worker pays a start-up once (process, TensorFlow import, MPI or SLURM launch), and the run ends
with a tail (summary, shutdown). Three ways to hand the M x K tickets to the workers:

- static: ticket i to worker i mod W, decided up front (`harness lth --shard i/W`, a job array of W);
- dynamic: each ticket, longest first, to the first worker that is free (the MPI and pool executors);
- array: one job-array task per ticket in plan order, at most W at a time: every ticket pays start-up.

The model is fitted to a measured sweep record (`harness run --variant sweep-*`), whose jobs carry
their wall-clock spans, or given by hand.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.errors import UserInputError

STRATEGIES = ("static", "dynamic", "array")


@dataclass(frozen=True)
class JobModel:
    overhead_s: float  # per ticket, outside the epochs
    epoch_s: float  # per epoch retrained
    startup_s: float  # per worker (array: per ticket)
    tail_s: float  # once, after the last ticket
    source: str  # where the figures come from

    def ticket_s(self, epochs: int) -> float:
        return self.overhead_s + epochs * self.epoch_s


def fit_record(record: dict) -> JobModel:
    """Least squares of each ticket's wall time on its epochs; start-up and tail from the spans.

    Start-up is the time from launch to the first ticket's start on each worker, averaged over the
    workers; the tail is from the last ticket's end to the end of the makespan.
    """
    sweep = record.get("sweep")
    if not sweep or "job_spans" not in sweep:
        raise UserInputError(f"record {record.get('run_id')} is not a sweep record with job spans: "
                             "pass one written by `harness run --variant sweep-*`")
    spans = list(sweep["job_spans"].values())
    epochs = np.array([e for _, _, e in spans], dtype=float)
    seconds = np.array([end - start for start, end, _ in spans])
    if len(set(epochs)) > 1:
        epoch_s, overhead_s = np.polyfit(epochs, seconds, 1)
    else:
        epoch_s, overhead_s = float(seconds.mean() / epochs[0]), 0.0
    first_starts: dict[tuple, float] = {}
    for job, (start, _, _) in sweep["job_spans"].items():
        worker = tuple(sweep["job_workers"][job])
        first_starts[worker] = min(start, first_starts.get(worker, start))
    startup_s = float(np.mean(list(first_starts.values())))
    tail_s = sweep["makespan_s"] - max(end for _, end, _ in spans)
    return JobModel(overhead_s=max(0.0, float(overhead_s)), epoch_s=float(epoch_s), startup_s=startup_s,
                    tail_s=max(0.0, tail_s), source=f"fitted to {record['run_id']} ({len(spans)} tickets, "
                                                      f"{sweep['workers']} worker(s), {sweep['executor']})")


def ticket_epochs(thresholds: int, rewinds: tuple[int, ...], epochs: int) -> list[int]:
    """Epochs retrained by each ticket, in plan order (threshold-major, as `harness lth` plans them)."""
    if max(rewinds) >= epochs:
        raise UserInputError(f"a rewind epoch must be below --epochs {epochs}: got {max(rewinds)}")
    return [epochs - k for _ in range(thresholds) for k in rewinds]


def makespan(strategy: str, tickets: list[float], workers: int, model: JobModel) -> float:
    if strategy == "static":
        loads = [sum(tickets[w::workers]) for w in range(workers)]
        return model.startup_s + max(loads) + model.tail_s
    per_ticket = [t + model.startup_s for t in tickets] if strategy == "array" else sorted(tickets, reverse=True)
    free = [0.0] * min(workers, len(tickets))
    heapq.heapify(free)
    for seconds in per_ticket:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return (0.0 if strategy == "array" else model.startup_s) + max(free) + model.tail_s


def plan(nodes: int, gpus_per_node: int, thresholds: int, rewinds: tuple[int, ...], epochs: int,
         model: JobModel) -> dict:
    if min(nodes, gpus_per_node, thresholds) < 1 or not rewinds:
        raise UserInputError("--nodes, --gpus-per-node, --thresholds and --rewinds must be at least 1")
    workers = nodes * gpus_per_node
    tickets = [model.ticket_s(e) for e in ticket_epochs(thresholds, rewinds, epochs)]
    busy = sum(tickets)
    strategies = {}
    for strategy in STRATEGIES:
        span = makespan(strategy, tickets, workers, model)
        strategies[strategy] = {"makespan_s": span, "gpu_hours": workers * span / 3600,
                                "idle_share": 1 - busy / (workers * span)}
    best = min(strategies, key=lambda s: strategies[s]["makespan_s"])
    return {"workers": workers, "tickets": len(tickets), "epochs": epochs, "rewinds": list(rewinds),
            "busy_gpu_hours": busy / 3600, "model": model.__dict__, "strategies": strategies, "best": best}


def load_model(path: Path | None, overrides: dict) -> JobModel:
    """The fitted model of a sweep record, with any figure given by hand replacing the fitted one."""
    if path is None:
        missing = [k for k in ("epoch_s",) if overrides.get(k) is None]
        if missing:
            raise UserInputError("give --from RECORD (a sweep run record) or at least --epoch-seconds")
        base = JobModel(0.0, 0.0, 0.0, 0.0, "given by hand")
    else:
        try:
            base = fit_record(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise UserInputError(f"{path} is not a readable run record ({error})") from None
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return base
    return JobModel(**{**base.__dict__, **given, "source": base.source + "; " + ", ".join(
        f"{k} given" for k in given)})
