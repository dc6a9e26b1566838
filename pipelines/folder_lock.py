"""One writer per folder: an advisory lock on a file inside it, refused at once when another holds it.

Two commands writing one folder corrupt each other (one truncates the checkpoint the other is
writing) and both can still exit 0, so every command that writes a search folder, a shard folder, a
tf.data cache folder or the sweep benchmark's prepared search holds this lock for as long as it
writes there. A second writer is refused in one line naming the holder (host, pid, since when).

The lock is `fcntl.flock` on `FOLDER/.lth-harness.lock`. The kernel releases it when the holder's
last descriptor closes, however the holder ends (SIGKILL and the out-of-memory killer included),
so no stale lock survives a dead holder and nothing needs to be cleaned up by hand. The descriptor
is close-on-exec: a program the holder starts does not hold the lock, and a process that execs
(the MPI relaunch) lets it go. The file is never removed: removing it while a third process waits
to open it would let two processes lock two different files. `holding_file` locks any one file the
same way (a transfer locks `<name>.partial.lock`, so that two fetches of one file never interleave).

Shared holders are the writers that are one writer by design: the tasks of one job array, each
writing only its own jobs' results (`harness lth --shard I/N`), share the lock and together exclude
any full run. Readers (`harness report`) take no lock at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

from pipelines.atomic import new_file_mode
from pipelines.errors import UserInputError

LOCK_NAME = ".lth-harness.lock"


class FolderBusy(UserInputError):
    """Another process writes the folder now."""


@contextlib.contextmanager
def holding(folder: Path | str, what: str, shared: bool = False) -> Iterator[Path]:
    """Hold `folder`'s lock while the block runs (exclusive, or `shared` with other shared holders).

    `what` names the folder for a person (e.g. "search folder"). Creates the folder if needed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def busy(holder: str) -> FolderBusy:
        return FolderBusy(f"{what} {folder} is in use by {holder}: wait for it to end, or choose another folder")

    with holding_file(folder / LOCK_NAME, busy, shared) as path:
        yield path


@contextlib.contextmanager
def holding_file(path: Path, busy: Callable[[str], Exception], shared: bool = False) -> Iterator[Path]:
    """Hold the lock on the file `path` (created if needed) while the block runs; when another
    process holds it, raise `busy(holder)`, where holder names it (pid, host, since when)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, new_file_mode())
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy(_holder(path)) from None
        _sign(fd, shared)
        yield path
    finally:
        os.close(fd)  # releases the lock


def _sign(fd: int, shared: bool) -> None:
    """Write who holds the lock into its file, for the message a refused writer prints. An exclusive
    holder replaces the file's text; shared holders add a line each (the last one is named)."""
    line = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(),
                       "shared": shared}) + "\n"
    if not shared:
        os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_END)
    os.write(fd, line.encode())


def _holder(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").split("\n")
        holder = json.loads(next(line for line in reversed(lines) if line.strip()))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["since"]))
        kind = "a shard task (and maybe others), " if holder.get("shared") else ""
        return f"{kind}pid {holder['pid']} on {holder['host']} since {since}"
    except (OSError, ValueError, StopIteration, KeyError, TypeError):  # it is still writing its name
        return "another process"
