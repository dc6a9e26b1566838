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
