"""The overview's rows: one per (variant, backend, workload, host, workers), medians over its runs.

Speedups compare throughputs within the same workload, host and mode only (training runs against
training runs, pipeline-alone runs against their own kind, sweeps against the serial executor on
the same backend). Training speedups cross backends: a JAX run against the slowest CPU run is a
speedup like any other, and its baseline's name says which backend that ran on.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import NamedTuple

from harness.figures import backend_of, run_figures
from harness.record import RunRecord
from pipelines.backend import DEFAULT as DEFAULT_BACKEND
from pipelines.errors import UserInputError
from pipelines.executors import EXECUTORS
from pipelines.train.placement import DEVICES


class Key(NamedTuple):
    """What makes runs one row."""

    workload: str
    host: str
    mode: str
    variant: str
    workers: int | None  # sweeps: the executor's workers
    backend: str | None


@dataclass(frozen=True)
class Row:
    variant: str
    backend: str | None  # the Keras backend that trained; None: the run trained no model
    workload: str
    host: str
    mode: str
    device: str
    pipeline: str
    workers: int | None  # sweeps: the executor's workers
    masking: str | None
    logical_devices: bool  # a GPU placement run on logical CPU devices: not a GPU figure
    runs: int
    images_per_s: float
    imagenet_epoch_s: float
    step_p50_s: float
    speedup: float | None
    baseline: str | None
    fraction_of_ceiling: float | None  # data runs: images/s over the decode ceiling
    decode_ceiling: float | None
    efficiency: float | None  # sweep runs: speedup over workers
    gpu_util_pct: float | None
    sm_occupancy_pct: float | None
    cpu_pct: float | None
    input_bound_pct: float | None
    verdict: str | None  # the latest run's bound and advice
    advice: str | None

    @property
    def label(self) -> str:
        """The variant and its workers: the row's name beside its backend column."""
        return f"{self.variant} x{self.workers}" if self.workers else self.variant

    @property
    def series(self) -> str:
        """The variant, and its backend where that is not the default: a chart's line or bar, which has
        no backend column beside it."""
        return _series(self.variant, self.backend)


def _series(variant: str, backend: str | None) -> str:
    return variant if backend in (None, DEFAULT_BACKEND) else f"{variant} on {backend}"


def summarize(records: list[RunRecord], baseline: str | None = None) -> list[Row]:
    """Rows sorted by workload, host, mode and throughput; the baseline is the named variant, or by
    default the slowest CPU variant of the group (sweeps: sweep-serial)."""
    if baseline is not None and baseline not in {r["variant"] for r in records}:
        known = ", ".join(sorted({r["variant"] for r in records})) or "none"
        raise UserInputError(f"baseline {baseline!r} has no runs in these results; variants present: {known}")
    groups: dict[Key, list[RunRecord]] = {}
    for record in records:
        key = Key(record["workload"]["name"], record["machine"]["host"], record["mode"], record["variant"],
                  record["sweep"]["workers"] if record.get("sweep") else None, backend_of(record))
        groups.setdefault(key, []).append(record)

    rates = {key: _median([r["timing"]["images_per_s"] for r in runs]) for key, runs in groups.items()}
    rows = []
    for key, runs in groups.items():
        workload, host, mode, variant, workers, backend = key
        peers = {k: rate for k, rate in rates.items() if k[:3] == key[:3]}  # same workload, host and mode
        chosen = _baseline_key(key, peers, groups, baseline)
        speedup = rates[key] / peers[chosen] if chosen else None
        figures = [run_figures(r) for r in runs]
        latest = runs[-1].get("verdict") or {}
        rows.append(Row(
            variant=variant, backend=backend, workload=workload, host=host, mode=mode, device=runs[0]["device"],
            pipeline=runs[0]["pipeline"], workers=workers, masking=runs[0].get("masking"),
            logical_devices=bool((runs[0].get("placement") or {}).get("logical")), runs=len(runs),
            images_per_s=rates[key], imagenet_epoch_s=_median([r["timing"]["imagenet_epoch_s"] for r in runs]),
            step_p50_s=_median([r["timing"]["step_p50_s"] for r in runs]),
            speedup=speedup, baseline=_baseline_name(chosen),
            fraction_of_ceiling=_median([f["fraction_of_ceiling"] for f in figures]),
            decode_ceiling=_median([(r.get("decode_ceiling") or {}).get("images_per_s") for r in runs]),
            efficiency=speedup / workers if speedup and workers else None,
            gpu_util_pct=_median([f["gpu_util_pct"] for f in figures]),
            sm_occupancy_pct=_median([f["sm_occupancy_pct"] for f in figures]),
            cpu_pct=_median([f["cpu_pct"] for f in figures]),
            input_bound_pct=_median([f["input_bound_pct"] for f in figures]),
            verdict=latest.get("bound"), advice=latest.get("advice"),
        ))
    return sorted(rows, key=lambda r: (r.workload, r.host, r.mode, r.images_per_s))


def _median(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _baseline_name(key: Key | None) -> str | None:
    """The baseline's variant, backend (where not the default) and workers: it has no column of its own."""
    if key is None:
        return None
    series = _series(key.variant, key.backend)
    return f"{series} x{key.workers}" if key.workers else series


def _baseline_key(key: Key, peers: dict[Key, float], groups: dict[Key, list[RunRecord]],
                  baseline: str | None) -> Key | None:
    """The named variant if the group has it; sweeps against sweep-serial on their backend; else the
    slowest CPU variant."""
    named = [k for k in peers if k.variant == baseline]
    if named:
        return min(named, key=peers.get)
    if key.mode == "sweep":
        serial = [k for k in peers if k.variant == f"sweep-{EXECUTORS.entries()[0].value.variant}"  # the baseline's
                  and k.backend == key.backend]
        if serial:
            return min(serial, key=peers.get)
    cpu = [k for k in peers if groups[k][0]["device"] in DEVICES and DEVICES[groups[k][0]["device"]].gpus == 0]
    return min(cpu, key=peers.get) if cpu else None
