"""Writes that are complete or absent: a reader never sees half a file.

Everything the harness leaves on disk for others (run records, manifests, job results) goes through
here: the bytes land under a temporary name in the same folder, then one rename publishes them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)  # read once at import: os.umask can only be read by setting it, which races threads
os.umask(_UMASK)


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """`mode` (default: 0666 less the umask) is set before the rename, so the file never shows another."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)  # mkstemp's 0600 would hide results from others
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming(error, path) from None
        raise


def _naming(error: OSError, path: Path) -> OSError:
    """The error with the file a person knows (not the temporary name): a full disk says which file
    it stopped, so the one-line report (pipelines.faults) can name it."""
    return type(error)(error.errno, error.strerror, str(path)) if error.errno else error


def new_file_mode(executable: bool = False) -> int:
    """The mode this process gives a new file: 0666 (0777 if executable) less the umask."""
    return (0o777 if executable else 0o666) & ~_UMASK


def write_json(path: Path, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
