"""Run records: one JSON file per run, written atomically, so that many ranks can share a folder."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from pipelines import atomic
from pipelines.errors import UserInputError

SCHEMA = "lth-harness/run-record/1"


def new_run_id(variant: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{variant}-{secrets.token_hex(3)}"


def save_record(results_dir: Path, record: dict) -> Path:
    path = Path(results_dir) / f"{record['run_id']}.json"
    atomic.write_json(path, record)
    return path


def load_records(results_dir: Path) -> list[dict]:
    """Every run record in the folder (other JSON files are ignored), oldest first."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserInputError(f"results folder {results_dir} does not exist: run `harness run` first")
    records = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserInputError(f"{path} is not readable JSON ({error}): remove or repair it") from None
        if isinstance(record, dict) and record.get("schema") == SCHEMA:
            records.append(record)
    return sorted(records, key=lambda r: r["started_at"])


def find_record(reference: str, results_dir: Path) -> dict:
    """A run record by file path, or by run id (or a unique prefix of one) in `results_dir`."""
    path = Path(reference)
    if path.suffix == ".json" and path.is_file():
        candidates = [path]
    else:
        candidates = sorted(Path(results_dir).glob(f"{reference}*.json")) if Path(results_dir).is_dir() else []
    if len(candidates) != 1:
        found = "no run record" if not candidates else f"{len(candidates)} run records"
        raise UserInputError(f"{found} match {reference!r} in {results_dir}: give a record file or a unique run id")
    try:
        record = json.loads(candidates[0].read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UserInputError(f"{candidates[0]} is not readable JSON ({error})") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise UserInputError(f"{candidates[0]} is not a run record of this harness")
    return record


def load_searches(folders: list[Path]) -> list[dict]:
    """The `harness lth --out` folders among `folders` and their subfolders: {title, path, summary}."""
    searches = []
    for folder in folders:
        for path in [Path(folder) / "summary.json", *sorted(Path(folder).glob("*/summary.json"))]:
            try:
                summary = json.loads(path.read_text())
                config = json.loads((path.parent / "run.json").read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(summary, dict) and {"dense", "tickets"} <= summary.keys():
                title = (f"{path.parent.name}: top-1 against sparsity ({config.get('workload')}, "
                         f"{config.get('epochs')} dense epochs)")
                searches.append({"title": title, "path": str(path.parent), "summary": summary})
    return searches
