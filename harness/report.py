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

from harness import charts
from harness.machine import PROJECT_ROOT
from harness.figures import run_figures
from harness.record import RunRecord
from harness.results import Skipped
from harness.rows import summarize
from pipelines import atomic
from pipelines.errors import UserInputError

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
    lth = [{"search": s, "chart": charts.tickets(s["summary"], s["title"])} for s in searches]
    return {"rows": rows, "workloads": per_workload, "runs": runs, "lth": lth,
            "several_hosts": len({r.host for r in rows}) > 1}


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
