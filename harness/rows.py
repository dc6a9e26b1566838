"""The overview's rows: one per (variant, workload, host, workers), medians over its runs.

Speedups compare throughputs within the same workload, host and mode only (training runs against
training runs, pipeline-alone runs against their own kind, sweeps against the serial executor).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from harness.figures import run_figures
from harness.record import RunRecord
from pipelines.errors import UserInputError
from pipelines.executors import EXECUTORS
from pipelines.train.placement import DEVICES


@dataclass(frozen=True)
class Row:
    variant: str
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
        return f"{self.variant} x{self.workers}" if self.workers else self.variant


def summarize(records: list[RunRecord], baseline: str | None = None) -> list[Row]:
    """Rows sorted by workload, host, mode and throughput; the baseline is the named variant, or by
    default the slowest CPU variant of the group (sweeps: sweep-serial)."""
    if baseline is not None and baseline not in {r["variant"] for r in records}:
        known = ", ".join(sorted({r["variant"] for r in records})) or "none"
        raise UserInputError(f"baseline {baseline!r} has no runs in these results; variants present: {known}")
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        workers = record["sweep"]["workers"] if record.get("sweep") else None
        key = (record["workload"]["name"], record["machine"]["host"], record["mode"], record["variant"], workers)
        groups.setdefault(key, []).append(record)

    rates = {key: _median([r["timing"]["images_per_s"] for r in runs]) for key, runs in groups.items()}
    rows = []
    for key, runs in groups.items():
        workload, host, mode, variant, workers = key
        peers = {k: rate for k, rate in rates.items() if k[:3] == key[:3]}
        chosen = _baseline_key(mode, peers, groups, baseline)
        speedup = rates[key] / peers[chosen] if chosen else None
        figures = [run_figures(r) for r in runs]
        latest = runs[-1].get("verdict") or {}
        rows.append(Row(
            variant=variant, workload=workload, host=host, mode=mode, device=runs[0]["device"],
            pipeline=runs[0]["pipeline"], workers=workers, masking=runs[0].get("masking"),
            logical_devices=bool((runs[0].get("placement") or {}).get("logical")), runs=len(runs),
            images_per_s=rates[key], imagenet_epoch_s=_median([r["timing"]["imagenet_epoch_s"] for r in runs]),
            step_p50_s=_median([r["timing"]["step_p50_s"] for r in runs]),
            speedup=speedup, baseline=_label(chosen),
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


def _label(key: tuple | None) -> str | None:
    if key is None:
        return None
    variant, workers = key[3], key[4]
    return f"{variant} x{workers}" if workers else variant


def _baseline_key(mode: str, peers: dict[tuple, float], groups: dict[tuple, list[RunRecord]],
                  baseline: str | None) -> tuple | None:
    """The named variant if the group has it; sweeps against sweep-serial; else the slowest CPU variant."""
    named = [k for k in peers if k[3] == baseline]
    if named:
        return min(named, key=peers.get)
    if mode == "sweep":
        serial = [k for k in peers if k[3] == f"sweep-{EXECUTORS.entries()[0].value.variant}"]  # the baseline's
        if serial:
            return min(serial, key=peers.get)
    cpu = [k for k in peers if groups[k][0]["device"] in DEVICES and DEVICES[groups[k][0]["device"]].gpus == 0]
    return min(cpu, key=peers.get) if cpu else None
