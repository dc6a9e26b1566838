"""The lottery-ticket charts of the report, as plotly figure specifications (plain dicts), from an LTH summary.

Summaries from before replicates have no `aggregate`: each ticket row is then a point of its own
(no error bars), and every other key that replicates, retraining modes and the stability analysis
added may be absent too (harness.record.SearchSummary). Error bars are one sample sd over replicates,
drawn only where a point has more than one.
"""

from __future__ import annotations

import statistics

from harness.charts import figure_layout
from harness.record import SearchSummary

MODES = ("weight", "lr", "finetune")  # retraining modes (Renda et al. 2020), in the legend's order
# plotly.js's own colour cycle, named so that one network or mode keeps its colour across traces
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
DASHES = ("solid", "dot", "dash", "longdash", "dashdot")
CONTROL = "random init (control)"
MATCHING = "sparsest matching ticket"
SPARSITY = "sparsity (share of weights pruned)"
REMAINING = "weights remaining (%, log scale)"


def rewind_label(rewind) -> str:
    """A rewind point as the summary labels it: an epoch count is a bare int (2), iterations a string ("500it")."""
    return rewind if isinstance(rewind, str) else f"epoch {rewind}"


def _mode(row: dict) -> str:
    return row.get("mode") or "weight"  # absent from summaries that had only weight rewinding


def line_name(row: dict) -> str:
    """The legend name of the line a ticket, aggregate or matching row belongs to."""
    if row.get("control"):
        return CONTROL
    rewind, mode = row.get("rewind"), _mode(row)
    if mode == "weight":
        return f"rewind to {rewind_label(rewind)}"
    if mode == "lr":
        return f"lr rewinding from {rewind_label(rewind)}"
    if mode == "finetune":  # trained weights kept: the rewind point sets only how long it trains on
        return f"fine-tuning (budget of rewind {rewind})"
    return f"{mode} retraining from {rewind_label(rewind)}"


def _mode_rank(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else len(MODES)


def _rewind_key(row: dict) -> tuple:
    """Orders rewind points: by optimizer steps where known (an epoch and an iteration count compare)."""
    step = row.get("rewind_step")
    return step is None, step or 0, str(row.get("rewind"))


def _order(row: dict) -> tuple:
    """Legend order: by rewind point, then mode, then name; controls last."""
    return bool(row.get("control")), _rewind_key(row), _mode_rank(_mode(row)), line_name(row)


def _points(summary: SearchSummary) -> list[dict]:
    """Each ticket as a point: its mean over replicates (x, y, sd) when the summary has them, else as it is."""
    if summary.get("aggregate"):
        return [_mean_point(row, row["actual_sparsity"]) for row in summary["aggregate"]]
    return [{**row, "x": row["actual_sparsity"], "y": row["top1"], "sd": None} for row in summary["tickets"]]


def _mean_point(row: dict, x) -> dict:
    """An aggregate row as a point at `x`: its mean top-1, with its sd where replicates give one."""
    return {**row, "x": x, "y": row["top1_mean"], "sd": _sd(row["top1_sd"], row["n"])}


def _sd(sd: float, n: int) -> float | None:
    """An error bar's half-length: none for a single replicate (its sd, 0.0, would draw a bare cap)."""
    return sd if n > 1 else None


def _grouped(points: list[dict]) -> list[tuple[str, list[dict]]]:
    """The points by line name, the lines in legend order."""
    groups: dict[str, list[dict]] = {}
    for point in sorted(points, key=_order):
        groups.setdefault(line_name(point), []).append(point)
    return list(groups.items())


def _line(name: str, points: list[dict], **style) -> dict:
    """A line through `points` in order of x, with sd error bars where any point has them."""
    points = sorted(points, key=lambda p: p["x"])
    trace = {"type": "scatter", "mode": "lines+markers", "name": name,
             "x": [p["x"] for p in points], "y": [p["y"] for p in points], **style}
    if any(p["sd"] is not None for p in points):
        trace["error_y"] = {"type": "data", "array": [p["sd"] or 0.0 for p in points], "visible": True}
    return trace


def _dense_reference(summary: SearchSummary, x0: float = 0, x1: float = 1, yref: str = "y") -> dict:
    """The dense top-1 as a dashed line across x0..x1 (shares of the page's width): the mean over
    replicates, within a band of one sd, when there are several; replicate 0's run otherwise."""
    mean = summary.get("dense_mean")
    top1, sd, n = (mean["top1_mean"], mean["top1_sd"], mean["n"]) if mean else (summary["dense"]["top1"], 0.0, 1)
    across = {"xref": "paper", "x0": x0, "x1": x1, "yref": yref}
    shapes = [{"type": "line", **across, "y0": top1, "y1": top1, "line": {"dash": "dash", "color": "#444"}}]
    text = f"dense {top1:.3f}"
    if n > 1:
        shapes.insert(0, {"type": "rect", **across, "y0": top1 - sd, "y1": top1 + sd, "layer": "below",
                          "fillcolor": "rgba(68,68,68,0.12)", "line": {"width": 0}})
        text += f" ± {sd:.3f} ({n} seeds)"
    note = {"xref": "paper", "x": x0, "yref": yref, "y": top1, "yanchor": "bottom", "xanchor": "left",
            "showarrow": False, "text": text}
    return {"shapes": shapes, "annotations": [note]}


def matching(summary: SearchSummary) -> list[dict] | None:
    """The sparsest matching ticket of each rewind point and mode in legend order, each with its line's
    name under "line"; None for a summary that does not say (written before replicates)."""
    found = summary.get("matching")
    return None if found is None else [{**m, "line": line_name(m)} for m in sorted(found, key=_order)]


def _remaining(sparsity: float) -> float:
    """The percentage of prunable weights a mask keeps: the papers' x axis (Frankle & Carbin 2019)."""
    return round(100 * (1 - sparsity), 9)  # 20.0 for 0.8, not 19.999999999999996


def _remaining_axis(points: list[float]) -> dict:
    """A log axis of weights remaining, from 100% on the left down to the sparsest point, that fits
    the points with half a decade of room at the sparse end (one point gets an axis around it)."""
    import math

    low = min([p for p in points if p > 0] or [1.0])
    return {"title": {"text": REMAINING}, "type": "log",
            "range": [math.log10(100) + 0.05, math.log10(low) - 0.15]}


def _ticket_lines(points: list[dict]) -> list[dict]:
    """A line per rewind point and mode, the random-init control's dotted."""
    return [_line(name, group, line={"dash": "dot"} if name == CONTROL else {}) for name, group in _grouped(points)]


def tickets(summary: SearchSummary, title: str) -> dict:
    """Top-1 against the weights remaining (log axis, dense on the left), as the papers draw it: a line
    per rewind point and retraining mode, one for the random-init control, error bars over replicates,
    dense as a dashed line; a star on the sparsest ticket of each line that matches dense."""
    points = [{**p, "x": _remaining(p["x"])} for p in _points(summary)]
    traces = _ticket_lines(points)
    stars = matching(summary)
    if stars:
        traces.append({"type": "scatter", "mode": "markers", "name": MATCHING,
                       "x": [_remaining(m["actual_sparsity"]) for m in stars], "y": [m["top1_mean"] for m in stars],
                       "text": [f"{m['line']}: {m['mask_id']}" for m in stars],
                       "hovertemplate": "%{text}<br>%{x:.1f}% of weights, top-1 %{y:.3f}<extra></extra>",
                       "marker": {"symbol": "star", "size": 16, "color": "#f2b701",
                                  "line": {"width": 1, "color": "#333"}}})
    return {"data": traces, "layout": figure_layout(title, REMAINING, "top-1 accuracy",
                                                    xaxis=_remaining_axis([p["x"] for p in points]),
                                                    **_dense_reference(summary))}


def early_stopping(summary: SearchSummary, search: str) -> dict | None:
    """The early-stopping iteration (the step of best validation top-1, mean over replicates) against
    the weights remaining, ticket lines against the control's (Frankle & Carbin 2019, figure 1).
    None where no ticket recorded one (a summary from before the curves, or Elephas fits)."""
    rows = [r for r in summary.get("aggregate") or [] if r.get("early_stop_step_mean") is not None]
    if not rows:
        return None
    points = [{**r, "x": _remaining(r["actual_sparsity"]), "y": r["early_stop_step_mean"],
               "sd": _sd(r["early_stop_step_sd"], r["n"])} for r in rows]
    traces = _ticket_lines(points)
    return {"data": traces, "layout": figure_layout(
        f"{search}: early-stopping iteration against weights remaining", REMAINING,
        "early-stopping iteration (steps of its training)", xaxis=_remaining_axis([p["x"] for p in points]))}


def retrain_modes(summary: SearchSummary, search: str) -> dict | None:
    """Top-1 against sparsity by retraining mode (weight rewinding, learning-rate rewinding, fine-tuning;
    Renda et al. 2020): a line per mode and rewind point, the colour saying the mode and the dash the
    rewind point. None unless the tickets were retrained in more than one mode."""
    points = [p for p in _points(summary) if not p.get("control")]
    modes = sorted({_mode(p) for p in points}, key=lambda m: (_mode_rank(m), m))
    if len(modes) < 2:
        return None
    rewinds = sorted({_rewind_key(p) for p in points})
    traces = []
    for name, group in _grouped(points):
        first = group[0]
        rewind = rewinds.index(_rewind_key(first))
        traces.append(_line(name, group, legendgroup=f"rewind {rewind}",
                            line={"color": PALETTE[modes.index(_mode(first)) % len(PALETTE)],
                                  "dash": DASHES[rewind % len(DASHES)]}))
    return {"data": traces, "layout": figure_layout(
        f"{search}: top-1 by retraining mode (colour) and rewind point (dash)", SPARSITY,
        "top-1 accuracy (mean over replicates)", **_dense_reference(summary))}


def _barriers(summary: SearchSummary) -> list[dict]:
    """The mean and sd of the error barrier per network and rewind point: the summary's own when it
    has them, else from its per-replicate rows."""
    if summary.get("stability_aggregate"):
        return summary["stability_aggregate"]
    groups: dict[tuple, list[dict]] = {}
    for row in summary["stability"]:
        groups.setdefault((row["network"], row["rewind_step"]), []).append(row)
    return [{**rows[0], "n": len(rows), "barrier_mean": statistics.fmean(r["barrier"] for r in rows),
             "barrier_sd": statistics.stdev(r["barrier"] for r in rows) if len(rows) > 1 else 0.0}
            for rows in groups.values()]


def stability(summary: SearchSummary, search: str) -> dict | None:
    """Linear mode connectivity against the rewind point (Frankle et al. 2020), in two panels on one
    rewind axis: left, the error barrier of each network (dense and each mask); right, each mask's
    weight-rewound ticket top-1. None without stability rows."""
    if not summary.get("stability"):
        return None
    barriers = _barriers(summary)
    tops = [_mean_point(row, row["rewind_step"]) for row in summary.get("aggregate") or []
            if not row["control"] and _mode(row) == "weight" and row["rewind_step"] is not None]
    networks = sorted({b["network"]: b["actual_sparsity"] for b in barriers}.items(),
                      key=lambda item: (item[0] != "dense", item[1], item[0]))
    colours = {name: PALETTE[i % len(PALETTE)] for i, (name, _) in enumerate(networks)}
    traces = []
    for name, _ in networks:
        points = [{"x": b["rewind_step"], "y": b["barrier_mean"], "sd": _sd(b["barrier_sd"], b["n"])}
                  for b in barriers if b["network"] == name]
        traces.append(_line(name, points, legendgroup=name, line={"color": colours[name]}))
    masks = sorted({p["mask_id"]: p["actual_sparsity"] for p in tops}.items(), key=lambda item: (item[1], item[0]))
    for mask, _ in masks:
        shown = mask in colours  # its legend entry is the left panel's, which toggles both
        colours.setdefault(mask, PALETTE[len(colours) % len(PALETTE)])
        traces.append(_line(mask, [p for p in tops if p["mask_id"] == mask], legendgroup=mask, showlegend=not shown,
                            xaxis="x2", yaxis="y2", line={"color": colours[mask]}))
    labels = {row["rewind_step"]: rewind_label(row["rewind"]) for row in [*tops, *barriers]}
    steps = sorted(labels)
    axis = {"title": {"text": "rewind point"}, "tickvals": steps, "ticktext": [labels[step] for step in steps]}
    return {"data": traces, "layout": figure_layout(
        f"{search}: stability to SGD noise against the rewind point", "rewind point",
        "error barrier (rise in top-1 error)", xaxis={**axis, "domain": [0, 0.44]},
        xaxis2={**axis, "domain": [0.56, 1], "anchor": "y2"},
        yaxis2={"anchor": "x2", "title": {"text": "ticket top-1 (weight rewinding)"}},
        **_dense_reference(summary, x0=0.56, yref="y2"))}
