"""Means over replicates, and which tickets match the dense network.

A ticket is **matching** when its mean top-1 over the replicates is at least the dense network's
mean minus one standard deviation of the dense replicates (Frankle et al. 2020: "reaches full
accuracy within one standard deviation"); with one replicate that is the dense top-1 itself. For
each (rewind point, mode), the sparsest matching ticket is what the search reports as found.
Standard deviations are the sample's (n - 1); one replicate has 0.
"""

from __future__ import annotations

import statistics


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def dense_mean(denses: list[dict]) -> dict:
    mean, sd = mean_sd([d["top1"] for d in denses])
    return {"n": len(denses), "top1_mean": mean, "top1_sd": sd}


def ticket_means(tickets: list[dict], dense: dict) -> list[dict]:
    """One row per (mask, rewind point, mode, control), over the replicates that finished it."""
    groups: dict[tuple, list[dict]] = {}
    for row in tickets:
        groups.setdefault((row["mask_id"], row["rewind"], row.get("mode"), row["control"]), []).append(row)
    rows = []
    for (mask_id, rewind, mode, control), group in groups.items():
        top1, sd = mean_sd([r["top1"] for r in group])
        first = group[0]
        rows.append({"mask_id": mask_id, "requested_sparsity": first["requested_sparsity"],
                     "actual_sparsity": statistics.fmean(r["actual_sparsity"] for r in group),
                     "rewind": rewind, "rewind_step": first.get("rewind_step"), "mode": mode, "control": control,
                     "n": len(group), "top1_mean": top1, "top1_sd": sd,
                     "top5_mean": statistics.fmean(r["top5"] for r in group),
                     "loss_mean": statistics.fmean(r["loss"] for r in group),
                     **_early_stop_mean(group),
                     "matching": not control and top1 >= dense["top1_mean"] - dense["top1_sd"]})
    return rows


def _early_stop_mean(group: list[dict]) -> dict:
    """The early-stopping iteration's mean and sd over the replicates whose fit recorded one (a job
    from before the curves, or fit by Elephas, has none)."""
    steps = [r["early_stop_step"] for r in group if r.get("early_stop_step") is not None]
    if not steps:
        return {"early_stop_step_mean": None, "early_stop_step_sd": None}
    mean, sd = mean_sd(steps)
    return {"early_stop_step_mean": mean, "early_stop_step_sd": sd}


def sparsest_matching(means: list[dict]) -> list[dict]:
    """Per (rewind point, mode), the matching row of highest sparsity."""
    best: dict[tuple, dict] = {}
    for row in means:
        key = (row["rewind"], row["mode"])
        if row["matching"] and (key not in best or row["actual_sparsity"] > best[key]["actual_sparsity"]):
            best[key] = row
    return [{k: row[k] for k in ("rewind", "rewind_step", "mode", "mask_id", "actual_sparsity", "top1_mean")}
            for row in sorted(best.values(), key=lambda r: (r["rewind_step"], r["mode"]))]


def barrier_means(stability: list[dict]) -> list[dict]:
    """One row per (network, rewind point), over the replicates."""
    groups: dict[tuple, list[dict]] = {}
    for row in stability:
        groups.setdefault((row["network"], row["rewind"]), []).append(row)
    rows = []
    for (network, rewind), group in groups.items():
        mean, sd = mean_sd([r["barrier"] for r in group])
        rows.append({"network": network, "actual_sparsity": group[0]["actual_sparsity"], "rewind": rewind,
                     "rewind_step": group[0]["rewind_step"], "n": len(group), "barrier_mean": mean,
                     "barrier_sd": sd})
    return rows
