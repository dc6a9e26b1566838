"""Run records: one JSON file per run, written atomically, so that many ranks can share a folder.

Reading treats a folder as a collection and a file named on its own as a request: `read_results`
skips each file of a folder that cannot be read (listing it with its reason) and uses the rest,
while `find_record` refuses a record it cannot read with one line saying why. Either way every
record and LTH search handed on has passed its shape check (harness.shapes), so the code after
them reads their fields without guarding.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.record import JsonObject, RunRecord, SearchSummary
from harness.shapes import problem, record_problem
from pipelines.lth.layout import SETTINGS, SUMMARY, SearchFolder
from pipelines import atomic
from pipelines.errors import UserInputError

SCHEMA = "lth-harness/run-record/1"
RUN_FIX = "give a run record that `harness run` wrote, or its run id"


def new_run_id(variant: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{variant}-{secrets.token_hex(3)}"


def save_record(results_dir: Path, record: dict) -> Path:
    path = Path(results_dir) / f"{record['run_id']}.json"
    atomic.write_json(path, record)
    return path


def shown(path) -> str:
    """A path for a one-line message: as it is, or escaped if it holds a newline or other control characters."""
    text = str(path)
    return text if text.isprintable() else ascii(text)


@dataclass(frozen=True)
class Skipped:
    """A file (or `--lth` folder) left out of a collection, and why."""

    path: str
    reason: str

    def described(self) -> str:
        return f"{shown(self.path)}: {self.reason}"

    def line(self) -> str:
        return f"skipped {self.described()}"


class Unreadable(Exception):
    """Why the file at `path` cannot be used; `skipped` carries both."""

    def __init__(self, path: Path, reason: str):
        super().__init__(reason)
        self.skipped = Skipped(str(path), reason)


@dataclass(frozen=True)
class Results:
    records: list[RunRecord]  # oldest first
    searches: list[dict]  # {title, path, summary}
    skipped: list[Skipped]


def read_json(path: Path):
    """The JSON value in `path`; Unreadable says why there is none (missing, binary, not JSON)."""
    path = Path(path)
    if not path.is_file():  # a folder, or a FIFO that would block the read forever
        raise Unreadable(path, "not a regular file" if path.exists() else "does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise Unreadable(path, f"unreadable ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise Unreadable(path, "not text (binary data?)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise Unreadable(path, f"not JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except (ValueError, RecursionError):  # a number of over 4,300 digits; nesting deeper than the stack
        raise Unreadable(path, "JSON too deeply nested or with too long a number to read") from None


def read_record(path: Path) -> RunRecord:
    """The run record in `path`, shape-checked; Unreadable says what keeps it from being one."""
    record = read_json(path)
    found = problem(record, JsonObject)
    if found:
        raise Unreadable(path, f"not a run record: {found}")
    schema = record.get("schema")
    if schema != SCHEMA:
        what = f"schema {json.dumps(schema)[:60]}" if "schema" in record else "no schema field"
        raise Unreadable(path, f"not a run record of this harness ({what}; this harness reads {SCHEMA})")
    found = record_problem(record)
    if found:
        raise Unreadable(path, f"a run record, but {found}")
    return record


def read_results(results: Path, lth: Sequence[Path] = ()) -> Results:
    """The run records in `results` and the LTH searches in it and in the `lth` folders.

    Unreadable files are skipped and listed. A folder named that does not exist, or a collection
    in which nothing at all could be read, is a UserInputError.
    """
    results = _existing_folder(Path(results), "results folder",
                               "give the folder `harness run --results` wrote, or run `harness run` first")
    lth = [_existing_folder(Path(f), "--lth", "give a folder that `harness lth --out` wrote") for f in lth]
    records, skipped = [], []
    for path in sorted(results.glob("*.json")):
        try:
            records.append(read_record(path))
        except Unreadable as error:
            skipped.append(error.skipped)
    searches = _read_searches(results, lth, skipped)
    if not records and not searches:
        raise UserInputError(_nothing_readable(results, skipped))
    return Results(sorted(records, key=lambda r: r["started_at"]), searches, skipped)


def _existing_folder(path: Path, what: str, fix: str) -> Path:
    if not path.exists():
        raise UserInputError(f"{what} {shown(path)} does not exist: {fix}")
    if not path.is_dir():
        raise UserInputError(f"{what} {shown(path)} is a file, not a folder: {fix}")
    return path


def _nothing_readable(results: Path, skipped: list[Skipped]) -> str:
    if not skipped:
        return f"no run records or LTH searches in {shown(results)}: run `harness run --variant NAME` first"
    return (f"nothing to report: all {len(skipped)} file(s) found were skipped as unreadable (the first: "
            f"{skipped[0].described()}); repair or remove them, or run `harness run`")


def _read_searches(results: Path, lth: list[Path], skipped: list[Skipped]) -> list[dict]:
    """The searches whose summary.json lies in a folder given or one level below it; each `lth`
    folder holding none is listed as skipped."""
    summaries: dict[Path, Path] = {}  # by resolved path: a search both inside RESULTS and given by --lth counts once
    unfinished: dict[Path, Path] = {}
    for folder, named in [(results, False), *[(folder, True) for folder in lth]]:
        found = [p for p in [folder / SUMMARY, *sorted(folder.glob(f"*/{SUMMARY}"))] if p.exists()]
        begun = [p.parent for p in [folder / SETTINGS, *sorted(folder.glob(f"*/{SETTINGS}"))]
                 if p.exists() and not (p.parent / SUMMARY).exists()]
        if named and not found and not begun:
            skipped.append(Skipped(str(folder), "no summary.json in it or in its subfolders: "
                                                "not a finished `harness lth --out` folder"))
        for path in found:
            summaries.setdefault(path.resolve(), path)
        for search in begun:
            unfinished.setdefault(search.resolve(), search)
    skipped += [_unfinished(search) for search in unfinished.values()]
    searches = []
    for path in summaries.values():
        try:
            searches.append(_read_search(path))
        except Unreadable as error:
            skipped.append(error.skipped)
    return searches


def _unfinished(search: Path) -> Skipped:
    """A search folder with settings but no summary yet: one still being written (readers take no
    lock), or one stopped before its summary. Listed, so that the page does not leave it out silently."""
    jobs = SearchFolder(search).jobs
    done = len(list(jobs.glob("*.json"))) if jobs.is_dir() else 0
    return Skipped(str(search), f"a search still being written, or stopped before its summary ({done} job "
                                "result(s) so far, no summary.json yet): report it once `harness lth` has finished")


def _read_search(path: Path) -> dict:
    summary = _shaped(path, SearchSummary, "an LTH summary")
    config = _shaped(path.parent / SETTINGS, JsonObject, "an LTH run.json")
    model = summary.get("model")  # a summary from before --model has none: its workload's MobileNetV2
    network = f"{model} on {config.get('workload')}" if isinstance(model, str) else config.get("workload")
    title = f"{path.parent.name}: top-1 against weights remaining ({network}, {config.get('epochs')} dense epochs)"
    return {"title": title, "path": str(path.parent), "summary": summary}


def _shaped(path: Path, shape: dict, what: str):
    value = read_json(path)
    found = problem(value, shape)
    if found:
        raise Unreadable(path, f"not {what}: {found}")
    return value


def find_record(reference: str, results_dir: Path) -> RunRecord:
    """A run record by file path, or by run id (or a unique prefix of one, taken literally) in `results_dir`."""
    try:
        return read_record(_record_path(reference, Path(results_dir)))
    except Unreadable as error:
        raise UserInputError(f"{error.skipped.described()}: {RUN_FIX}") from None


def _record_path(reference: str, results_dir: Path) -> Path:
    path = Path(reference)
    if not reference.strip():
        raise UserInputError(f"an empty run reference {reference!r}: {RUN_FIX}")
    if path.is_dir():
        raise UserInputError(f"{shown(reference)} is a folder, not a run record: {RUN_FIX}")
    if path.exists() or "/" in reference:
        return path  # read_record says what is wrong with it, if anything
    try:
        names = sorted(p.name for p in results_dir.iterdir()) if results_dir.is_dir() else None
    except OSError as error:
        raise UserInputError(f"cannot list {shown(results_dir)} ({error.strerror}): choose --results") from None
    if names is None:
        raise UserInputError(f"no run record match {reference!r}: the results folder {shown(results_dir)} "
                             f"does not exist; {RUN_FIX} (--results names the folder)")
    candidates = [name for name in names if name.endswith(".json") and name.startswith(reference)]
    if len(candidates) != 1:
        found = "no run record" if not candidates else f"{len(candidates)} run records"
        raise UserInputError(f"{found} match {reference!r} in {shown(results_dir)}: give a record file or a "
                             "unique run id")
    return results_dir / candidates[0]
