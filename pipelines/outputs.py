"""Checks on where a command will write, made before any work starts.

A long job that discovers at the end that its output path is a file, a folder, or unwritable loses
all its work; every command checks its outputs first. The checks create nothing: writability is
probed in the nearest folder that exists, by a temporary file removed at once (so a read-only
filesystem is caught even for root, whom permission bits do not stop).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipelines.errors import UserInputError


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(folder: Path, what: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".lth-harness-probe-")
    except OSError as error:
        raise UserInputError(f"{what}: cannot write in {folder} ({error.strerror}): "
                             "choose a folder you can write to") from None
    os.close(fd)
    os.unlink(probe)


def writable_folder(path: Path | str, what: str) -> Path:
    """`path` is, or can become, a folder this process writes into; `what` names it (e.g. "--out DIR")."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"{what} {path} is a file, not a folder: give a folder")
    existing = _nearest_existing(path.absolute())
    if not existing.is_dir():
        raise UserInputError(f"{what} {path} lies under {existing}, which is a file: give a folder")
    _probe(existing, f"{what} {path}")
    return path


def refuse_folders_in_place(paths: list[Path], writer: str) -> None:
    """Refuse before `writer`'s expensive step when a folder stands where it will write one of `paths`
    (a rerun would otherwise redo that work and fail again at its end, every time)."""
    for path in map(Path, paths):
        if path.is_dir():
            raise UserInputError(f"{path} is a folder where {writer} writes a file: remove it and run again")


def writable_file(path: Path | str, what: str) -> Path:
    """`path` names a file this process can create or replace; `what` names it (e.g. "--out FILE")."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{what} {path} is a folder: give a file name")
    writable_folder(path.absolute().parent, f"{what} {path}: its folder")
    return path
