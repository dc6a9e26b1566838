"""Muting what native code (TensorFlow's C++ runtime, the JVM behind Spark) writes to stderr."""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def native_stderr_muted(active: bool = True):
    """Point file descriptor 2 at /dev/null; child processes started meanwhile keep it so."""
    if not active:
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
