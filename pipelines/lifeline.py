"""Worker processes that end when the process that started them is gone, however it ended.

A pool worker that outlives its parent (after a `kill -9`, an out-of-memory kill, a crash) keeps
its memory (each imports TensorFlow: ~640 MB), finishes the tasks already queued to it and writes
their outputs where a rerun is writing the same ones, and keeps multiprocessing's resource tracker
alive, which exits only once every process holding its pipe is gone.

The mechanism is the parent sentinel that multiprocessing gives every spawned child: the read end
of a pipe whose write end only the parent process holds (it is close-on-exec, so no program the
parent starts inherits it). The kernel closes that write end when the parent process ends, by any
signal, so the read end reports end-of-file. A daemon thread in the worker waits on it and ends the
worker at once with `os._exit`: no clean-up runs that could finish or rename a half-written output.
If the parent is already gone when the thread starts, the wait returns at once: there is no window.

Not prctl(PR_SET_PDEATHSIG): the kernel sends that signal when the *thread* that forked the child
ends, not the process, and ProcessPoolExecutor starts replacement workers from its management
thread, so a healthy worker could be killed while its parent lives (it is Linux only besides). Not
polling os.getppid(): it costs a wake-up per interval and acts only at the next one. The thread
needs the GIL to act; the worker's long native calls (TensorFlow's kernels, decoding, file I/O)
release it, so it acts within milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os
import threading


def die_with_parent() -> None:
    """End this process as soon as its parent process is gone; call it first thing in a spawned worker."""
    parent = multiprocessing.parent_process()
    if parent is None:
        raise RuntimeError("die_with_parent() belongs in a process started by multiprocessing")
    threading.Thread(target=_exit_after, args=(parent,), name="lifeline", daemon=True).start()


def _exit_after(parent) -> None:
    parent.join()  # waits on the sentinel: returns once the parent process is gone
    os._exit(1)
