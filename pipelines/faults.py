"""The machine's faults a person can fix, each said in one line: a full disk, a read-only filesystem,
a quota, too few file descriptors.

They are not mistakes in the input (exit 2) but neither are they bugs: the command exits 1 with one
line naming the file and what to do, not with the traceback of whichever library hit the fault
first (Python's own writes, h5py, TensorFlow's file system, Spark). Libraries wrap the same errno
in their own exceptions (TensorFlow's OpError says only the message), so both the errno and the
message are read.
"""

from __future__ import annotations

import errno
import resource
import signal

_ADVICE = {  # errno: (its words in a message, what to do)
    errno.ENOSPC: ("No space left on device", "free space there (or choose another folder) and run the same command "
                                              "again; what finished is kept"),
    errno.EDQUOT: ("Disk quota exceeded", "free space within your quota (or choose another folder) and run the same "
                                          "command again; what finished is kept"),
    errno.EROFS: ("Read-only file system", "choose a folder on a writable filesystem"),
    errno.EMFILE: ("Too many open files", "raise the open-file limit (ulimit -n 4096) and run the same command again"),
    errno.ENFILE: ("Too many open files in system", "the machine's open-file table is full: try again later"),
}
MIN_OPEN_FILES = 1024  # TensorFlow, Spark and a pool of workers each hold hundreds of descriptors


class MachineFault(Exception):
    """A fault already described in one line (by `describe`, in another process)."""


def describe(error: BaseException) -> str | None:
    """One line for a machine fault a person can fix, or None for anything else."""
    if isinstance(error, MachineFault):
        return str(error)
    code = next((c for c in (getattr(error, "errno", None),) if c in _ADVICE), None)
    if code is None:
        text = str(error)
        code = next((c for c, (words, _) in _ADVICE.items() if words in text), None)
    if code is None:
        return None
    words, advice = _ADVICE[code]
    where = getattr(error, "filename", None)
    return f"{f'cannot write {where}: ' if where else ''}{words}: {advice}"


def raise_open_file_limit() -> str | None:
    """Lift the soft limit on open files to MIN_OPEN_FILES (or the hard limit, if lower), as any
    process may; a hard limit below MIN_OPEN_FILES is returned as one line to print. A low limit
    makes TensorFlow abort mid-import (exit 134) or a worker fail at its first file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MIN_OPEN_FILES if hard == resource.RLIM_INFINITY else min(MIN_OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if hard != resource.RLIM_INFINITY and hard < MIN_OPEN_FILES:
        return (f"the open-file limit is {hard} (ulimit -Hn) and this harness needs {MIN_OPEN_FILES}: "
                f"run it where `ulimit -n {MIN_OPEN_FILES}` is allowed")
    return None


def ending(returncode: int) -> str:
    """How a child process ended, from its return code: "exit status 3" or "killed by SIGKILL (signal 9)"."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "an unknown signal"
    return f"killed by {name} (signal {-returncode})"
