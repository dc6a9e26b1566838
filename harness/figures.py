"""The figures one run record is judged by, read the same way by the CLI, the report and `compare`."""

from __future__ import annotations

from harness.record import RunRecord
from harness.variants import TRAINING_MODES

BEFORE_BACKENDS = "tensorflow"  # what every training run recorded before the backend was a choice trained on

# (key, label, better): better is "higher" or "lower", for `harness compare`
COMPARED = (
    ("images_per_s", "images/s", "higher"),
    ("step_p50_s", "step p50 (s)", "lower"),
    ("step_p90_s", "step p90 (s)", "lower"),
    ("imagenet_epoch_s", "ImageNet epoch (s, extrapolated)", "lower"),
    ("gpu_util_pct", "GPU utilization (%)", "higher"),
    ("sm_occupancy_pct", "SM occupancy (%)", "higher"),
    ("cpu_pct", "CPU use (% of all cores)", "lower"),
    ("input_bound_pct", "input-bound (% of step time)", "lower"),
    ("model_ceiling_images_per_s", "model ceiling (images/s)", "higher"),
    ("pipeline_supply_images_per_s", "pipeline supply (images/s)", "higher"),
    ("fraction_of_ceiling", "of decode ceiling", "higher"),
    ("makespan_s", "sweep makespan (s)", "lower"),
)


def backend_of(record: RunRecord) -> str | None:
    """The Keras backend that trained the run; None for a run that trained no model (a record made
    before the backend was a choice holds none, and trained on BEFORE_BACKENDS if it trained)."""
    if "backend" in record:
        return record["backend"]
    return BEFORE_BACKENDS if record["mode"] in TRAINING_MODES else None


def run_figures(record: RunRecord) -> dict:
    """Throughput, occupation, CPU use, input-bound share and verdict of one record; None where unmeasured.

    The input-bound share comes from the profile when the run was profiled, else from the verdict's
    throughputs (the source is named). `record` has passed harness.shapes.record_problem: its
    optional fields are read with .get.
    """
    timing = record["timing"]
    monitor = record.get("monitor")
    gpu = monitor["gpu"] if monitor else None
    profile = record.get("profile") or {}
    verdict = record.get("verdict") or {}
    sweep = record.get("sweep")
    if profile.get("input_bound_pct") is not None:
        input_bound, source = profile["input_bound_pct"], "profile"
    else:
        input_bound, source = verdict.get("input_wait_pct"), verdict.get("input_wait_source")
    gpu_available = bool(gpu and gpu["available"])
    return {
        "backend": backend_of(record),
        "images_per_s": timing["images_per_s"],
        "step_p50_s": timing["step_p50_s"],
        "step_p90_s": timing["step_p90_s"],
        "imagenet_epoch_s": timing["imagenet_epoch_s"],
        "gpu_util_pct": gpu.get("mean_util_pct") if gpu_available else None,
        "sm_occupancy_pct": gpu.get("mean_sm_occupancy_pct") if gpu_available else None,
        "gpu_note": None if gpu_available else ((gpu.get("reason") or "no GPU readings") if gpu
                                                else "run without the monitor"),
        "cpu_pct": monitor["cpu"].get("mean_pct") if monitor else None,
        "input_bound_pct": input_bound,
        "input_bound_source": source,
        "model_ceiling_images_per_s": verdict.get("model_ceiling_images_per_s"),
        "pipeline_supply_images_per_s": verdict.get("pipeline_supply_images_per_s"),
        "verdict": verdict.get("bound"),
        "advice": verdict.get("advice"),
        "fraction_of_ceiling": record.get("fraction_of_ceiling"),
        "makespan_s": sweep["makespan_s"] if sweep else None,
        "sampler_share_of_cpu": monitor["cost"].get("share_of_cpu") if monitor else None,
    }


def compare(a: RunRecord, b: RunRecord) -> list[dict]:
    """Each figure both records have, with B/A; `better` says whether B improved on A."""
    first, second = run_figures(a), run_figures(b)
    rows = []
    for key, label, better in COMPARED:
        x, y = first[key], second[key]
        if x is None or y is None:
            continue
        ratio = y / x if x else None
        improved = None if ratio is None or ratio == 1 else (ratio > 1) == (better == "higher")
        rows.append({"figure": key, "label": label, "a": x, "b": y, "ratio": ratio, "improved": improved})
    return rows
