"""Per-job results on disk: one JSON file per job id, written atomically, so that a rerun skips the
finished jobs and many workers (or MPI ranks on a shared filesystem) never contend for one file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from pipelines import atomic


class ResultStore:
    """`log` hears about damaged results: a file that does not read back as a result is moved aside
    (to `<job id>.json.damaged`, replacing an older one) and its job counts as unfinished, so a
    rerun redoes that job instead of failing on it."""

    def __init__(self, folder: Path, log: Callable[[str], None] = lambda line: None):
        self.folder = Path(folder)
        self.log = log

    def path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def finished(self, job_id: str) -> bool:
        result = self.read(job_id)
        return result is not None and result.get("status") == "done"

    def read(self, job_id: str) -> dict | None:
        """The job's result, or None when it has none yet; a damaged file is moved aside first."""
        path = self.path(job_id)
        if not path.is_file():
            return None
        try:
            return self.load(job_id)
        except DamagedResult as damage:
            aside = path.with_name(path.name + ".damaged")
            os.replace(path, aside)
            self.log(f"{path} is damaged ({damage}): moved to {aside.name}; its job runs again")
            return None

    def load(self, job_id: str) -> dict:
        path = self.path(job_id)
        try:
            result = json.loads(path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DamagedResult(f"not JSON: {error}") from None
        if not isinstance(result, dict) or result.get("job_id") != job_id:
            raise DamagedResult(f"not the result of job {job_id}")
        return result

    def save(self, result: dict) -> None:
        atomic.write_json(self.path(result["job_id"]), result)


class DamagedResult(Exception):
    """A job result file that exists but does not read back as that job's result."""
