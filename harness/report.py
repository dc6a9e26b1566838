"""The HTML report: runs grouped by variant, with speedups against a baseline on the same machine."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2

from pipelines import atomic
from pipelines.errors import UserInputError


@dataclass(frozen=True)
class Row:
    variant: str
    workload: str
    host: str
    mode: str
    device: str
    pipeline: str
    runs: int
    images_per_s: float
    imagenet_epoch_s: float
    step_p50_s: float
    speedup: float | None
    baseline: str | None
    fraction_of_ceiling: float | None  # data runs: images/s over the decode ceiling
    efficiency: float | None  # sweep runs: speedup over workers


def human_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"


def _median(records: list[dict], key: str) -> float:
    return statistics.median(r["timing"][key] for r in records)


def summarize(records: list[dict], baseline: str | None = None) -> list[Row]:
    """One row per (variant, workload, machine), medians over its runs.

    Speedups compare throughputs within the same workload, host and mode (training runs against
    training runs, pipeline-alone runs against their own kind) only. The baseline is the named
    variant, or by default the slowest CPU variant of that group.
    """
    if baseline is not None and baseline not in {r["variant"] for r in records}:
        known = ", ".join(sorted({r["variant"] for r in records})) or "none"
        raise UserInputError(f"baseline {baseline!r} has no runs in these results; variants present: {known}")
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        key = (record["workload"]["name"], record["machine"]["host"], record["mode"], record["variant"])
        groups.setdefault(key, []).append(record)

    rates = {key: _median(runs, "images_per_s") for key, runs in groups.items()}
    rows = []
    for (workload, host, mode, variant), runs in groups.items():
        peers = {v: rate for (w, h, m, v), rate in rates.items() if (w, h, m) == (workload, host, mode)}
        cpu_peers = {v: rate for v, rate in peers.items() if groups[(workload, host, mode, v)][0]["device"] == "cpu"}
        chosen = baseline if baseline in peers else _default_baseline(mode, peers, cpu_peers)
        rate = rates[(workload, host, mode, variant)]
        fractions = [r["fraction_of_ceiling"] for r in runs if r.get("fraction_of_ceiling") is not None]
        speedup = rate / peers[chosen] if chosen else None
        rows.append(Row(
            variant=variant, workload=workload, host=host, mode=mode, device=runs[0]["device"],
            pipeline=runs[0]["pipeline"], runs=len(runs), images_per_s=rate,
            imagenet_epoch_s=_median(runs, "imagenet_epoch_s"), step_p50_s=_median(runs, "step_p50_s"),
            speedup=speedup, baseline=chosen,
            fraction_of_ceiling=statistics.median(fractions) if fractions else None,
            efficiency=speedup / runs[0]["sweep"]["workers"] if speedup and mode == "sweep" else None,
        ))
    return sorted(rows, key=lambda r: (r.workload, r.host, r.mode, r.images_per_s))


def _default_baseline(mode: str, peers: dict[str, float], cpu_peers: dict[str, float]) -> str | None:
    """Sweeps compare against the serial executor; everything else against its slowest CPU variant."""
    if mode == "sweep" and "sweep-serial" in peers:
        return "sweep-serial"
    return min(cpu_peers, key=cpu_peers.get) if cpu_peers else None


def render(records: list[dict], baseline: str | None = None) -> str:
    if not records:
        raise UserInputError("no run records to report: run `harness run --variant NAME` first")
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("harness", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.filters["duration"] = human_duration
    return environment.get_template("report.html.j2").render(
        rows=summarize(records, baseline),
        records=records,
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )


def write_report(records: list[dict], out: Path, baseline: str | None = None) -> Path:
    atomic.write_bytes(Path(out), render(records, baseline).encode())
    return Path(out)
