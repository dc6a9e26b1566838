"""The output folder of `preprocess`: which names in it are the command's own, and removing only those.

The command owns exactly: its shards (`{train,val}-NNNNN-of-MMMMM.tfrecord`, and only once its job
marker `.progress/job.json` is there, which it writes before any shard), their `.<shard>.<pid>.partial`
files (`.<shard>.partial` before writers had their own), its `.progress/` folder, its manifest, the
manifest's temporary file and its lock file (pipelines.folder_lock, which a killed run leaves behind).
A folder holding anything else is refused; a rerun removes or replaces only these names, and never the
lock file, which belongs to the lock (see `preprocess._sole_writer`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from pipelines.data.manifest import MANIFEST, OLDER_FORMATS
from pipelines.errors import UserInputError
from pipelines.folder_lock import LOCK_NAME

PROGRESS = ".progress"
JOB_MARKER = "job.json"
_SHARD = re.compile(r"(train|val)-\d{5}-of-\d{5}\.tfrecord")
_LEFTOVER = re.compile(r"\.(train|val)-\d{5}-of-\d{5}\.tfrecord(\.\d+)?\.partial|\.manifest\.json\.\w+\.tmp")


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def partial_name(name: str) -> str:
    """This process's temporary name for shard `name`: two writers of one shard (a Spark task retried
    while its first attempt still runs) each write their own file, so a rename always publishes a whole
    shard (and both write the same bytes)."""
    return f".{name}.{os.getpid()}.partial"


def _entries(out: Path) -> list[Path]:
    try:
        return sorted(out.iterdir()) if out.is_dir() else []
    except OSError as error:
        raise UserInputError(f"cannot list OUT {out}: {error.strerror}: choose a folder you can read") from None


def _own(path: Path, marked: bool) -> bool:
    if path.name == PROGRESS:
        return path.is_dir()
    if _LEFTOVER.fullmatch(path.name) or path.name == LOCK_NAME:
        return path.is_file()
    return marked and bool(_SHARD.fullmatch(path.name)) and path.is_file()


def refuse_foreign(out: Path) -> None:
    """Refuse `out` when it holds a name this command did not write (its manifest is handled before)."""
    marked = (out / PROGRESS / JOB_MARKER).is_file()
    foreign = [p.name for p in _entries(out) if not _own(p, marked)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise UserInputError(f"{out} exists and holds other files ({shown}): choose another folder or remove them")


def clear(out: Path, keep: frozenset[str] = frozenset()) -> None:
    """Remove the command's own files from `out`, except the shards named in `keep`; nothing else."""
    shutil.rmtree(out / PROGRESS, ignore_errors=True)
    for path in _entries(out):
        if path.name not in keep and (_SHARD.fullmatch(path.name) or _LEFTOVER.fullmatch(path.name)):
            path.unlink()


def remove_older_output(out: Path, job: dict) -> bool:
    """Remove a finished output of this same job in an older format (no checksums) so that it is redone."""
    try:
        old = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(old, dict) or old.get("format") not in OLDER_FORMATS or old.get("job") != job:
        return False
    for path in _entries(out):
        if _SHARD.fullmatch(path.name):
            path.unlink()
    (out / MANIFEST).unlink()
    return True
