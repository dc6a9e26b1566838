"""`harness data fetch NAME OUT` and `harness data fetch --list`: real data sets by name (pipelines.data.catalog)."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from harness.cli.fields import field_option, options
from harness.cli.options import command_options
from harness.cli.output import emit_json, progress, stderr, stdout
from pipelines.data.catalog import DATASETS, MIRROR_ENV
from pipelines.data.fetch import FetchSettings
from pipelines.errors import UserInputError

UNITS = {"download": "bytes", "unpack": "images"}


class Phases:
    """One transient progress bar per phase of the fetch, the next replacing the last (callable from threads)."""

    def __init__(self, name: str):
        self.name, self.phase, self.bar, self.update = name, None, None, None
        self.lock = threading.Lock()

    def __call__(self, phase: str, done: int, total: int) -> None:
        with self.lock:
            if phase != self.phase:
                self.close()
                self.phase, self.bar = phase, progress(f"{phase} {self.name}", UNITS[phase])
                self.update = self.bar.__enter__()
            self.update(done, total)

    def close(self) -> None:
        if self.bar:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _listing(as_json: bool) -> None:
    rows = [{"name": e.name, "bytes": e.size, "classes": len(e.classes), "train": e.train, "val": e.val,
             "license": e.license, "source": e.homepage, "sha256_pinned": all(f.sha256 for f in e.files)}
            for e in (DATASETS[n] for n in DATASETS)]
    if as_json:
        emit_json({"datasets": rows})
        return
    table = [("name", "size", "classes", "train/val", "license", "source")] + [
        (r["name"], _megabytes(r["bytes"]), str(r["classes"]), f"{r['train']}/{r['val']}",
         r["license"] + ("" if r["sha256_pinned"] else " [no SHA-256 pinned]"), r["source"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        stdout.print("  ".join(cell.rjust(w) if i in (1, 2, 3) else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))) + "  " + row[5], markup=False)


@click.command()
@click.argument("name", required=False)
@click.argument("out", required=False, type=click.Path(path_type=Path))
@click.option("--list", "listing", is_flag=True, help="List the data sets this command knows.")
@click.option("--archive", "archives", multiple=True, type=click.Path(path_type=Path), metavar="FILE",
              help="Your own copy of the data set's file(s), or a folder holding them by name: no download; "
                   "still verified. Repeatable.")
@click.option("--mirror", envvar=MIRROR_ENV, show_envvar=True, metavar="URL",
              help="A base URL holding the files under their names, tried before the catalog's mirrors.")
@click.option("--shards", is_flag=True, help="Then preprocess OUT into TFRecord shards in OUT/shards.")
@options(*(field_option(FetchSettings, name) for name in ("timeout", "retries", "connections")))
@command_options
def fetch(name: str | None, out: Path | None, listing: bool, archives: tuple[Path, ...], mirror: str | None,
          shards: bool, timeout: float, retries: int, connections: int, as_json: bool):
    """Download, verify (size and SHA-256) and unpack data set NAME into OUT/train and OUT/val."""
    from pipelines.data.fetch import fetch as run_fetch, to_shards

    if listing:
        if name or out:
            raise UserInputError("--list takes no NAME or OUT")
        return _listing(as_json)
    if not name or not out:
        raise UserInputError(f"give NAME and OUT (NAME one of {', '.join(DATASETS)}), or --list")
    DATASETS.entry(name)  # an unknown name is one line listing the known ones, before anything else
    phases = Phases(name)
    try:
        record = run_fetch(name, out, archives=archives or None, mirror=mirror, progress=phases,
                           settings=FetchSettings(timeout=timeout, retries=retries, connections=connections))
    finally:
        phases.close()
    shard_manifest = None
    if shards:
        with progress(f"preprocess {out}/shards", "shards") as report:
            shard_manifest = to_shards(out, name, report)
    for item in record["files"]:
        if not item["sha256_pinned"] and record["ran"]:
            stderr.print(f"note: no SHA-256 is pinned for {item['name']}: its size was checked; sha256 "
                         f"{item['sha256']} is recorded in {out}/dataset.json", markup=False)
    if as_json:
        emit_json({"out": str(out), **{k: record[k] for k in ("dataset", "ran", "counts", "files", "license")},
                   "classes": len(record["classes"]), "seconds": record.get("seconds"),
                   "shards": None if shard_manifest is None else {
                       "out": str(out / "shards"), "ran": shard_manifest["ran"],
                       "examples": {s: v["examples"] for s, v in shard_manifest["splits"].items()}}})
        return
    counts = record["counts"]
    if not record["ran"]:
        stdout.print(f"{out} already holds {name}: nothing to do", markup=False)
    stdout.print(f"{out}: {name}, {counts['train']} train and {counts['val']} val images in "
                 f"{len(record['classes'])} classes ({record['license']})", markup=False)
    if shard_manifest is not None:
        stdout.print(f"{out}/shards: TFRecord shards of it ({'written' if shard_manifest['ran'] else 'already there'})",
                     markup=False)
