"""Per-job results on disk: one JSON file per job id, written atomically, so that a rerun skips the
finished jobs and many workers (or MPI ranks on a shared filesystem) never contend for one file."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

from pipelines import atomic


class ResultStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def finished(self, job_id: str) -> bool:
        path = self.path(job_id)
        return path.is_file() and json.loads(path.read_text()).get("status") == "done"

    def load(self, job_id: str) -> dict:
        return json.loads(self.path(job_id).read_text())

    def save(self, result: dict) -> None:
        atomic.write_json(self.path(result["job_id"]), result)


def failure(job_description: dict, error: BaseException) -> dict:
    """The result of a job that raised: recorded, so the others go on and the summary names it."""
    return {**job_description, "status": "failed", "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc()}
