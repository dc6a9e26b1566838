"""The scale planner: a sweep's makespan, GPU-hours and idle share on W = nodes x GPUs workers.

A ticket rewound to epoch k retrains `epochs - k` epochs, so its wall time is modelled as
`overhead + epochs_trained x epoch_s` (overhead: building, loading and evaluating the model). Each
worker pays a start-up once (process, TensorFlow import, MPI or SLURM launch), and the run ends
with a tail (summary, shutdown). Three ways to hand the M x K tickets to the workers:

- static: ticket i to worker i mod W, decided up front (`harness lth --shard i/W`, a job array of W);
- dynamic: each ticket, longest first, to the first worker that is free (the MPI and pool executors);
- array: one job-array task per ticket in plan order, at most W at a time: every ticket pays start-up.

The model is fitted to a measured sweep record (`harness run --variant sweep-*`), whose jobs carry
their wall-clock spans, or given by hand. The schedules are simulated ticket by ticket, so the
counts are bounded (`LIMITS`, `MAX_TICKETS`): a plan past them is no sweep anyone runs, and its
simulation would take the machine's memory.
"""

from __future__ import annotations

import heapq
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from harness.record import RunRecord
from pipelines.errors import UserInputError

STRATEGIES = ("static", "dynamic", "array")
LIMITS = {"--nodes": 10_000, "--gpus-per-node": 1_024, "--epochs": 10_000}  # the most of each count
MAX_TICKETS = 100_000  # masks x rewinds
MAX_SECONDS = 10_000_000  # any one figure of the model: about 116 days
FIGURES = {"epoch_s": "--epoch-seconds", "overhead_s": "--ticket-overhead-seconds", "startup_s": "--startup-seconds",
           "tail_s": "--tail-seconds"}
RECORD_HINT = "pass a sweep run record (the JSON file `harness run --variant sweep-*` writes)"


@dataclass(frozen=True)
class JobModel:
    overhead_s: float  # per ticket, outside the epochs
    epoch_s: float  # per epoch retrained
    startup_s: float  # per worker (array: per ticket)
    tail_s: float  # once, after the last ticket
    source: str  # where the figures come from

    def ticket_s(self, epochs: int) -> float:
        return self.overhead_s + epochs * self.epoch_s


def figure_is_sane(name: str, value: float) -> bool:
    """Finite, at most MAX_SECONDS, and above 0 for an epoch (a ticket must take time), 0 or more otherwise."""
    least_ok = value > 0 if name == "epoch_s" else value >= 0
    return math.isfinite(value) and least_ok and value <= MAX_SECONDS


def check_given_figures(given: dict) -> None:
    for name, value in given.items():
        if not figure_is_sane(name, value):
            least = "above 0" if name == "epoch_s" else "0 or more"
            raise UserInputError(f"{FIGURES[name]} must be a number of seconds {least} and at most "
                                 f"{MAX_SECONDS:,}, got {value}")


def check_counts(nodes: int, gpus_per_node: int, thresholds: int, rewinds: int, epochs: int) -> None:
    """Each count at least 1 and within LIMITS, and at most MAX_TICKETS tickets, before anything is built."""
    counts = {"--nodes": nodes, "--gpus-per-node": gpus_per_node, "--thresholds": thresholds, "--rewinds": rewinds,
              "--epochs": epochs}
    for option, value in counts.items():
        most = LIMITS.get(option, MAX_TICKETS)
        if not 1 <= value <= most:
            raise UserInputError(f"{option} must lie between 1 and {most:,}, got {value}")
    if thresholds * rewinds > MAX_TICKETS:
        raise UserInputError(f"--thresholds {thresholds} x --rewinds {rewinds} is {thresholds * rewinds:,} tickets: "
                             f"the planner takes at most {MAX_TICKETS:,}")


def _number(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def sweep_of(record: RunRecord, name: str) -> dict:
    """The record's sweep, checked for every field the fit reads, so that a damaged record is refused in one line."""
    sweep = record.get("sweep")
    if not isinstance(sweep, dict) or not isinstance(sweep.get("job_spans"), dict) or not sweep["job_spans"]:
        raise UserInputError(f"{name} is not a sweep record with job spans: {RECORD_HINT}")
    workers = sweep.get("job_workers")
    for job, span in sweep["job_spans"].items():
        if not (isinstance(span, list) and len(span) == 3 and all(map(_number, span)) and span[0] <= span[1]
                and span[2] >= 1):
            raise UserInputError(f"{name}: job {job!r} has the span {span!r}, not [start, end, epochs]: {RECORD_HINT}")
        if not isinstance(workers, dict) or job not in workers:
            raise UserInputError(f"{name}: job {job!r} has no entry in job_workers: {RECORD_HINT}")
    if not _number(sweep.get("makespan_s")):
        raise UserInputError(f"{name} has no makespan_s: {RECORD_HINT}")
    return sweep


def fit_record(record: RunRecord, name: str) -> JobModel:
    """Least squares of each ticket's wall time on its epochs; start-up and tail from the spans.

    Start-up is the time from launch to the first ticket's start on each worker, averaged over the
    workers; the tail is from the last ticket's end to the end of the makespan. `name` says where the
    record came from, in errors.
    """
    sweep = sweep_of(record, name)
    spans = list(sweep["job_spans"].values())
    epochs = [float(e) for _, _, e in spans]
    seconds = [end - start for start, end, _ in spans]
    if len(set(epochs)) > 1:
        epoch_s, overhead_s = statistics.linear_regression(epochs, seconds)
    else:
        epoch_s, overhead_s = statistics.fmean(seconds) / epochs[0], 0.0
    first_starts: dict[str, float] = {}
    for job, (start, _, _) in sweep["job_spans"].items():
        worker = json.dumps(sweep["job_workers"][job])  # a [host, pid] pair: any JSON value is a key so
        first_starts[worker] = min(start, first_starts.get(worker, start))
    tail_s = sweep["makespan_s"] - max(end for _, end, _ in spans)
    return JobModel(overhead_s=max(0.0, overhead_s), epoch_s=epoch_s, startup_s=statistics.fmean(first_starts.values()),
                    tail_s=max(0.0, tail_s),
                    source=f"fitted to {record.get('run_id') or name} ({len(spans)} tickets, {len(first_starts)} "
                           f"worker(s), {sweep.get('executor', 'unknown executor')})")


def ticket_epochs(thresholds: int, rewinds: tuple[int, ...], epochs: int) -> list[int]:
    """Epochs retrained by each ticket, in plan order (threshold-major, as `harness lth` plans them)."""
    if max(rewinds) >= epochs:
        raise UserInputError(f"a rewind epoch must be below --epochs {epochs}: got {max(rewinds)}")
    return [epochs - k for _ in range(thresholds) for k in rewinds]


def makespan(strategy: str, tickets: list[float], workers: int, model: JobModel) -> float:
    if strategy == "static":  # workers past the tickets get none
        loads = [sum(tickets[w::workers]) for w in range(min(workers, len(tickets)))]
        return model.startup_s + max(loads) + model.tail_s
    per_ticket = [t + model.startup_s for t in tickets] if strategy == "array" else sorted(tickets, reverse=True)
    free = [0.0] * min(workers, len(tickets))
    heapq.heapify(free)
    for seconds in per_ticket:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return (0.0 if strategy == "array" else model.startup_s) + max(free) + model.tail_s


def plan(nodes: int, gpus_per_node: int, thresholds: int, rewinds: range | tuple[int, ...], epochs: int,
         model: JobModel) -> dict:
    """`rewinds` may be a range: it is counted and checked before any per-ticket list is built."""
    check_counts(nodes, gpus_per_node, thresholds, len(rewinds), epochs)
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


def read_record(path: Path) -> dict:
    """The JSON object in `path` (--from), or one line saying what the file is instead."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"--from {path} is a folder: {RECORD_HINT}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"--from {path} does not exist: {RECORD_HINT}") from None
    except OSError as error:
        raise UserInputError(f"--from {path} cannot be read ({error.strerror}): {RECORD_HINT}") from None
    except UnicodeDecodeError:
        raise UserInputError(f"--from {path} is not a text file: {RECORD_HINT}") from None
    except json.JSONDecodeError as error:
        raise UserInputError(f"--from {path} is not JSON ({error.msg}, line {error.lineno}): {RECORD_HINT}") from None
    if not isinstance(record, dict):
        raise UserInputError(f"--from {path} holds a JSON {type(record).__name__}, not a run record: {RECORD_HINT}")
    return record


def record_epochs(record: RunRecord, path: Path) -> int:
    """The dense epochs of the record's grid: --epochs' default."""
    grid = record["sweep"].get("grid")
    epochs = grid.get("epochs") if isinstance(grid, dict) else None
    if type(epochs) is not int:
        raise UserInputError(f"--from {path} names no dense epochs (sweep.grid.epochs): give --epochs")
    return epochs


def load_model(record: RunRecord | None, name: str, overrides: dict) -> JobModel:
    """The model fitted to a sweep record (`name`: where it came from), any figure given by hand replacing
    the fitted one; a fitted figure no sweep can have (a negative epoch time, from noisy spans) is refused."""
    given = {k: v for k, v in overrides.items() if v is not None}
    check_given_figures(given)
    if record is None:
        if "epoch_s" not in given:
            raise UserInputError("give --from RECORD (a sweep run record) or at least --epoch-seconds")
        base = JobModel(0.0, 0.0, 0.0, 0.0, "given by hand")
    else:
        base = fit_record(record, name)
    for figure, value in base.__dict__.items():
        if figure in FIGURES and figure not in given and not figure_is_sane(figure, value):
            raise UserInputError(f"{name}: the fitted {figure} is {value:.4g} s, which no sweep takes: "
                                 f"give {FIGURES[figure]}")
    if not given:
        return base
    return JobModel(**{**base.__dict__, **given, "source": base.source + "; " + ", ".join(
        f"{k} given" for k in given)})
