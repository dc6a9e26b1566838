"""The report's charts as plotly figure specifications (plain dicts, drawn by the inlined plotly.js).

Each function takes run records and returns {"data": [...], "layout": {...}} or None when the
records hold nothing for that chart (the lottery-ticket charts, from LTH summaries, are in
harness.lth_charts). Nothing here touches the network or the DOM.
"""

from __future__ import annotations

import statistics

from harness.record import RunRecord
from harness.rows import Row
from pipelines.data.online import MEMORY, PIPELINES

HOUR = 3600.0
# The reference story: hours per ImageNet epoch as the research group measured them.
STORY = (
    ("one CPU", "cpu", "slowest", 20.0),
    ("one GPU", "gpu1", "slowest", 3.5),
    ("four GPUs", "gpu4", "slowest", 1.0),
    ("four GPUs, fast pipeline", "gpu4", "fastest", 0.25),
)
MAX_CORE_LINES = 8  # above this many cores, a timeline shows the mean and the busiest core instead


def _log_axis(title: str) -> dict:
    """A log-scale axis labelled at each power of ten only, in full (0.1, 1, 10, 1,000): plotly's
    default labels minor ticks too ("2, 10, 5, 2, 1, 5"), which nobody reads at a glance."""
    return {"type": "log", "dtick": 1, "tickformat": ",~g", "title": {"text": f"{title} (log scale)"}}


def figure_layout(title: str, x: str, y: str, **extra) -> dict:
    """Every chart's layout: its title, axis titles, margins and height; `extra` adds or replaces keys."""
    return {"title": {"text": title}, "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}},
            "margin": {"t": 48, "r": 16, "b": 56, "l": 64}, "height": 360, **extra}


def reference_story(rows: list[Row], workload: str) -> dict | None:
    """Hours per ImageNet epoch for the story's four steps: the runs present against the reference.

    Each device's bar is its slowest (starved) or fastest (fed) non-synthetic training pipeline, on
    whichever backend that was (its hover names a backend other than the default). Every measured bar is extrapolated from images/s on this workload to ImageNet's size, and says
    so; runs on logical CPU devices say that too. Missing steps are labelled "no run".
    """
    training = [r for r in rows if r.workload == workload and r.mode == "train" and r.masking is None
                and not (r.pipeline in PIPELINES and PIPELINES[r.pipeline].reads == MEMORY)]
    if not training:
        return None
    steps, measured, labels, details = [], [], [], []
    for step, device, pick, _ in STORY:
        candidates = [r for r in training if r.device == device]
        steps.append(step)
        if not candidates:
            measured.append(None)
            labels.append("no run")
            details.append(f"no {device} training run on {workload}")
            continue
        chosen = (min if pick == "slowest" else max)(candidates, key=lambda r: r.images_per_s)
        where = " on logical CPU devices" if chosen.logical_devices else ""
        measured.append(chosen.imagenet_epoch_s / HOUR)
        labels.append(f"{chosen.imagenet_epoch_s / HOUR:.2g} h extrapolated")
        details.append(f"{chosen.series}{where}: {chosen.images_per_s:.0f} images/s on {workload}, "
                       f"extrapolated to 1,281,167 images")
    reference = [hours for *_, hours in STORY]
    return {
        "data": [
            {"type": "bar", "name": f"this harness ({workload}, extrapolated)", "x": steps, "y": measured,
             "text": labels, "textposition": "outside", "hovertext": details,
             "hovertemplate": "%{hovertext}<extra></extra>"},
            {"type": "bar", "name": "reference (published, measured on ImageNet)", "x": steps, "y": reference,
             "text": [f"{h:g} h measured" for h in reference], "textposition": "outside",
             "hovertemplate": "%{text}<extra></extra>"},
        ],
        "layout": figure_layout(f"Hours per ImageNet epoch: the reference story ({workload})", "",
                                "hours (log scale)", barmode="group", yaxis=_log_axis("hours")),
    }


def timeline(record: RunRecord) -> dict | None:
    """CPU use per core, GPU utilization and SM occupancy over the run; the timed steps shaded."""
    monitor = record.get("monitor")
    if not monitor or not monitor["t_s"]:
        return None
    t = monitor["t_s"]
    per_core = list(zip(*monitor["cpu"]["per_core_pct"]))
    if len(per_core) <= MAX_CORE_LINES:
        traces = [{"type": "scatter", "mode": "lines", "name": f"CPU core {i}", "x": t, "y": list(core),
                   "line": {"width": 1}} for i, core in enumerate(per_core)]
    else:
        samples = monitor["cpu"]["per_core_pct"]
        traces = [{"type": "scatter", "mode": "lines", "name": "CPU mean", "x": t,
                   "y": [statistics.fmean(s) for s in samples]},
                  {"type": "scatter", "mode": "lines", "name": "busiest core", "x": t, "y": [max(s) for s in samples]}]
    for device in monitor["gpu"]["devices"]:
        traces.append({"type": "scatter", "mode": "lines", "name": f"GPU {device['index']} utilization",
                       "x": t, "y": device["util_pct"], "line": {"width": 2}})
        if device["sm_occupancy_available"]:
            traces.append({"type": "scatter", "mode": "lines", "name": f"GPU {device['index']} SM occupancy",
                           "x": t, "y": device["sm_occupancy_pct"], "line": {"width": 2, "dash": "dot"}})
    start, end = monitor["timed_window_s"]
    shade = {"type": "rect", "xref": "x", "yref": "paper", "x0": start, "x1": end, "y0": 0, "y1": 1,
             "fillcolor": "rgba(80,140,220,0.10)", "line": {"width": 0}, "layer": "below"}
    return {"data": traces, "layout": figure_layout("Occupation over the run (timed steps shaded)", "seconds", "%",
                                                    shapes=[shade], yaxis={"range": [0, 105], "title": {"text": "%"}})}


def step_distribution(record: RunRecord) -> dict:
    unit = "job" if record["mode"] == "sweep" else "step"
    return {"data": [{"type": "histogram", "x": [t * 1000 for t in record["timing"]["step_times_s"]],
                      "name": f"{unit} time"}],
            "layout": figure_layout(f"Timed {unit} times", "ms", "count", showlegend=False)}


def data_against_ceiling(rows: list[Row], workload: str) -> dict | None:
    data = sorted((r for r in rows if r.mode == "data" and r.workload == workload), key=lambda r: r.images_per_s)
    if not data:
        return None
    names = [r.series for r in data]
    traces = [{"type": "bar", "name": "pipeline alone", "x": names, "y": [r.images_per_s for r in data]}]
    ceilings = [r.decode_ceiling for r in data]
    if any(c is not None for c in ceilings):
        traces.append({"type": "scatter", "mode": "markers", "name": "decode ceiling (one pinned process per core)",
                       "x": names, "y": ceilings, "marker": {"symbol": "line-ew-open", "size": 40, "line": {"width": 3}}})
    return {"data": traces, "layout": figure_layout(f"Data pipelines against the decode ceiling ({workload})", "",
                                                    "images/s (log scale)",
                                                    yaxis=_log_axis("images/s"))}


def sweep_scaling(rows: list[Row], workload: str) -> dict | None:
    """Speedup over the serial executor against workers, one line per executor and backend, ideal for reference."""
    sweeps = [r for r in rows if r.mode == "sweep" and r.workload == workload and r.speedup is not None]
    if not sweeps:
        return None
    traces = []
    for variant in sorted({r.series for r in sweeps}):
        points = sorted((r for r in sweeps if r.series == variant), key=lambda r: r.workers)
        workers = [r.workers for r in points]
        traces.append({"type": "scatter", "mode": "lines+markers", "name": f"{variant} speedup",
                       "x": workers, "y": [r.speedup for r in points]})
        traces.append({"type": "scatter", "mode": "lines+markers", "name": f"{variant} efficiency", "x": workers,
                       "y": [r.efficiency for r in points], "yaxis": "y2", "line": {"dash": "dot"}})
    most = max(r.workers for r in sweeps)
    traces.append({"type": "scatter", "mode": "lines", "name": "ideal speedup", "x": [1, most], "y": [1, most],
                   "line": {"dash": "dash", "color": "#999"}})
    return {"data": traces, "layout": figure_layout(
        f"Sweep speedup and parallel efficiency against workers ({workload})", "workers", "speedup over sweep-serial",
        yaxis2={"title": {"text": "efficiency (speedup / workers)"}, "overlaying": "y", "side": "right",
                "range": [0, 1.2], "dtick": 0.2, "tickformat": ".1f", "showgrid": False},
        legend={"x": 1.08, "xanchor": "left"})}  # clear of the right axis's title

