"""`harness report` and `harness compare`: reading run records back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from harness.cli.options import command_options
from harness.cli.output import emit_json, stdout


@click.command()
@click.argument("results", type=click.Path(path_type=Path), default=Path("results"))
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/index.html"), show_default=True)
@click.option("--baseline", default=None, help="Variant to compare against (default: the slowest CPU run).")
@click.option("--lth", "searches", type=click.Path(path_type=Path), multiple=True,
              help="A `harness lth --out` folder to chart (those directly inside RESULTS are found anyway).")
@command_options
def report(results: Path, out: Path, baseline: str | None, searches: tuple[Path, ...], as_json: bool):
    """Render the run records in RESULTS (default: results/) and LTH searches as one self-contained HTML page.

    Files that cannot be read are skipped: each is named on stderr and in the page."""
    from harness.report import write_report
    from harness.results import read_results
    from harness.rows import summarize
    from pipelines.outputs import writable_file

    writable_file(out, "--out")
    found = read_results(results, searches)
    write_report(found.records, out, baseline, found.searches, found.skipped)
    for skipped in found.skipped:  # after the page, so that a refused --baseline stays one line
        click.echo(skipped.line(), err=True)
    rows = summarize(found.records, baseline)
    if as_json:
        emit_json({"report": str(out), "runs": len(found.records), "searches": [s["path"] for s in found.searches],
                   "skipped": [dataclasses.asdict(s) for s in found.skipped],
                   "rows": [row.__dict__ for row in rows]})
        return
    table = Table("variant", "backend", "workload", "images/s", "speedup", "baseline", "verdict", box=None)
    for row in rows:
        speedup = f"{row.speedup:.2f}x" if row.speedup is not None else "-"
        table.add_row(row.label, row.backend or "-", row.workload, f"{row.images_per_s:.1f}", speedup,
                      row.baseline or "-", row.verdict or "-")
    stdout.print(table)
    stdout.print(f"report: {out.resolve()}")


@click.command()
@click.argument("first")
@click.argument("second")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Where run ids are looked up.")
@command_options
def compare(first: str, second: str, results: Path, as_json: bool):
    """Print each figure of run FIRST and run SECOND with their ratio (SECOND / FIRST).

    FIRST and SECOND are run record files or run ids (unique prefixes do, taken literally: no wildcards).
    Each column names its run's backend; runs on two backends also get the backend speedup (images/s)."""
    from harness.figures import backend_of, compare as compare_records
    from harness.results import find_record

    a, b = find_record(first, results), find_record(second, results)
    rows = compare_records(a, b)
    backends = {"a": backend_of(a), "b": backend_of(b)}
    if as_json:
        emit_json({"a": a["run_id"], "b": b["run_id"], "backends": backends, "figures": rows})
        return
    table = Table(box=None)
    for head in ("figure", *(Text(f"{r['run_id']}\n{r['variant']} on {backends[side] or 'no backend'}")  # no markup
                             for side, r in (("a", a), ("b", b))), "B/A", ""):
        table.add_column(head)
    for row in rows:
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "-"
        verdict = {True: "better", False: "worse", None: ""}[row["improved"]]
        table.add_row(row["label"], f"{row['a']:.4g}", f"{row['b']:.4g}", ratio, verdict)
    stdout.print(table)
    if backends["a"] and backends["b"] and backends["a"] != backends["b"]:
        speedup = next(row["ratio"] for row in rows if row["figure"] == "images_per_s")
        stdout.print(f"backend speedup, {backends['b']} over {backends['a']}: {speedup:.2f}x images/s", markup=False)
