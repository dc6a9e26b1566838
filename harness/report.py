"""The HTML report: one self-contained page (plotly.js inlined) from run records and LTH searches.

Chart data travels as JSON inside `<script type="application/json">` blocks, escaped so that no
string from a record can close the block; every other string goes through Jinja's autoescape.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Sequence

import jinja2
from markupsafe import Markup

from harness import charts, lth_charts
from harness.machine import PROJECT_ROOT
from harness.figures import run_figures
from harness.record import RunRecord
from harness.results import Skipped, Unreadable, read_json
from harness.rows import summarize
from pipelines import atomic
from pipelines.errors import UserInputError
from pipelines.lth.layout import SearchFolder
from pipelines.train.models.kinds import KINDS

ASV_SITE = PROJECT_ROOT / "reports" / "asv" / "index.html"  # html_dir in asv.conf.json


def human_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"


def script_json(value) -> Markup:
    """JSON safe inside a <script> block: no "<", ">" or "&" survives, and NaN/inf become null."""
    text = json.dumps(_finite(value), allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _plotly_js() -> Markup:
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs().replace("</script", "<\\/script"))


def build_sections(records: list[RunRecord], searches: list[dict], baseline: str | None) -> dict:
    """Everything the template shows: the overview rows and, per workload, the charts that have data."""
    rows = summarize(records, baseline)
    workloads = sorted({r.workload for r in rows})
    per_workload = []
    for workload in workloads:
        figures = {"story": charts.reference_story(rows, workload),
                   "data": charts.data_against_ceiling(rows, workload),
                   "sweep": charts.sweep_scaling(rows, workload)}
        per_workload.append({"name": workload, "charts": figures})
    runs = [{"record": r, "figures": run_figures(r), "timeline": charts.timeline(r),
             "steps": charts.step_distribution(r)} for r in records]
    return {"rows": rows, "workloads": per_workload, "runs": runs, "lth": [lth_section(s) for s in searches],
            "several_hosts": len({r.host for r in rows}) > 1}


def lth_section(search: dict) -> dict:
    """What the page shows of one LTH search; the early-stopping, retraining-modes and stability charts
    are None for a search without those runs, and `matching` None for one from before replicates."""
    summary, folder = search["summary"], Path(search["path"])
    return {"search": search, "chart": lth_charts.tickets(summary, search["title"]),
            "matching": lth_charts.matching(summary), "modes": lth_charts.retrain_modes(summary, folder.name),
            "early_stopping": lth_charts.early_stopping(summary, folder.name),
            "stability": lth_charts.stability(summary, folder.name), "masks": mask_sparsity(folder),
            "resumed": resumed_trainings(summary)}


def resumed_trainings(summary: dict) -> list[dict]:
    """Each training of a search that was stopped and resumed (the dense run, tickets): how often,
    from which steps, and the seconds of training it did again (lost after a kill)."""
    trainings = [("dense", summary.get("dense")), *((row.get("job_id"), row) for row in summary.get("tickets") or []
                                                    if isinstance(row, dict))]
    rows = []
    for name, row in trainings:
        resumes = [r for r in (row or {}).get("resumes") or [] if isinstance(r, dict)] if isinstance(row, dict) else []
        if resumes:
            redone = [r.get("redone_seconds") for r in resumes]
            rows.append({"training": str(name), "resumes": len(resumes),
                         "steps": ", ".join(str(r.get("step")) for r in resumes),
                         "redone_seconds": sum(x for x in redone if isinstance(x, (int, float)) and math.isfinite(x))})
    return rows


def mask_sparsity(search: Path) -> dict:
    """The sparsity of each mask of a search by layer kind and by layer, from the reports beside its
    masks, the layers in network order. Reports written before the kinds and the order were recorded
    give no kind (shown as a dash) and no per-kind figures, their layers after the others by name; a
    report that does not read back, or holds no per-layer sparsity, is named in `unreadable` and left out."""
    masks, unreadable = [], []
    pattern = SearchFolder(search).mask_report("*")
    for path in sorted(pattern.parent.glob(pattern.name)):
        try:
            report = read_json(path)
        except Unreadable as error:
            unreadable.append(f"{path.name} ({error})")
            continue
        if not (isinstance(report, dict) and isinstance(report.get("per_layer"), dict)):
            unreadable.append(f"{path.name} (no per-layer sparsity)")
            continue
        masks.append(_mask_row(path.stem, report))
    ordered = [name for mask in masks for name in mask["layer_order"]]
    layers = list(dict.fromkeys(ordered + sorted({name for mask in masks for name in mask["per_layer"]})))
    kinds = {name: kind for mask in masks for name, kind in mask["layer_kinds"].items()}
    return {"masks": masks, "unreadable": unreadable,
            "kinds": [{"kind": kind, "share": next((m["kind_share"][kind] for m in masks if kind in m["kind_share"]), None),
                       "sparsity": [m["kind_sparsity"].get(kind) for m in masks]}
                      for kind in KINDS if kind in kinds.values()],
            "layers": [{"name": name, "kind": kinds.get(name), "sparsity": [m["per_layer"].get(name) for m in masks]}
                       for name in layers]}


def _mask_row(mask_id: str, report: dict) -> dict:
    """What the page shows of one mask report: any field may be missing (an older report) or mistyped."""
    def number(value):
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def text(value):
        return value if isinstance(value, str) else None

    per_kind = report.get("per_kind") if isinstance(report.get("per_kind"), dict) else {}
    kind_figures = {kind: figures for kind, figures in per_kind.items() if isinstance(figures, dict)}
    weights = number(report.get("weights"))
    layer_kinds = report.get("layer_kinds") if isinstance(report.get("layer_kinds"), dict) else {}
    order = report.get("layer_order") if isinstance(report.get("layer_order"), list) else []
    keep_dense = report.get("keep_dense")
    return {
        "id": mask_id, "scope": text(report.get("scope")), "sparsity_over": text(report.get("sparsity_over")),
        "keep_dense": ", ".join(map(str, keep_dense)) if isinstance(keep_dense, list) else None,
        **{key: number(report.get(key)) for key in ("requested_sparsity", "sparsity", "requested_sparsity_of_pruned",
                                                    "sparsity_of_pruned")},
        "collapsed": len(report["collapsed_layers"]) if isinstance(report.get("collapsed_layers"), list) else None,
        "per_layer": {str(name): number(value) for name, value in report["per_layer"].items()},
        "layer_kinds": {str(name): kind for name, kind in layer_kinds.items() if kind in KINDS},
        "layer_order": [name for name in order if isinstance(name, str) and name in report["per_layer"]],
        "kind_sparsity": {kind: number(figures.get("sparsity")) for kind, figures in kind_figures.items()},
        "kind_share": {kind: number(figures.get("weights")) / weights for kind, figures in kind_figures.items()
                       if weights and number(figures.get("weights")) is not None},
    }


def render(records: list[dict], baseline: str | None = None, searches: list[dict] | None = None,
           asv_site: str | None = None, skipped: Sequence[Skipped] = ()) -> str:
    """The page; `skipped` lists the files the loader left out, so that the page says what it lacks."""
    searches = searches or []
    if not records and not searches:
        raise UserInputError("no run records to report: run `harness run --variant NAME` first")
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("harness", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.filters["duration"] = human_duration
    environment.filters["script_json"] = script_json
    return environment.get_template("report.html.j2").render(
        **build_sections(records, searches, baseline),
        records=records,
        plotly_js=_plotly_js(),
        asv_site=asv_site,
        skipped=skipped,
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )


def write_report(records: list[dict], out: Path, baseline: str | None = None,
                 searches: list[dict] | None = None, skipped: Sequence[Skipped] = ()) -> Path:
    """Writes the page atomically; links the asv site (`make bench-html`) when it has been published."""
    out = Path(out)
    site = ASV_SITE if ASV_SITE.is_file() else None
    link = os.path.relpath(site, out.resolve().parent) if site else None
    atomic.write_bytes(out, render(records, baseline, searches, link, skipped).encode())
    return out
