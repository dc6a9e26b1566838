"""Stopping on request: SIGTERM, SIGINT, SIGUSR1 and SIGHUP become one exception and one exit status.

A cluster ends a job with SIGTERM (its time limit, a preemption, `scancel`), SLURM's warning
signal is SIGUSR1 when a script asks for one, a person presses Ctrl-C (SIGINT), and a closed
terminal sends SIGHUP. Python's default for all but SIGINT is to die on the spot: no `finally`
runs, so workers, child commands and temporary folders stay behind, and the exit status is the
signal's (143, 138, ...), which no script of the harness documents. Here the first such signal
raises `Stopped` in the main thread (at the next bytecode: a native call such as a training step
finishes first), so every `finally` and `with` on the way out runs (pool workers and child commands
are ended, temporary files removed) and the command exits with STOPPED_STATUS. What was finished
is on disk (every output is complete or absent), so the same command run again continues.

A second signal while the first one's clean-up runs ends the process at once with the same status.
"""

from __future__ import annotations

import os
import signal

STOPPED_STATUS = 3  # the command was stopped by a signal before it finished; run it again to continue
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP)


class Stopped(BaseException):
    """Raised in the main thread by the first stop signal. A BaseException, like KeyboardInterrupt:
    `except Exception` clauses (a job recorded as failed, a file skipped) must not swallow a stop."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def stop_on_signals() -> None:
    """Install the handlers; call once, from the main thread, before the work starts."""
    for signum in SIGNALS:
        signal.signal(signum, _first)


_RECEIVED: list[int] = []  # the first stop signal, once one came


def received() -> Stopped | None:
    """The stop a signal asked for, if one did. `Stopped` raised while native code was calling back
    into Python (TensorFlow's tracing, say) can come out of that code as another exception (a
    SystemError, a bare TypeError): the command is still stopped, not broken."""
    return Stopped(_RECEIVED[0]) if _RECEIVED else None


def _first(signum, frame) -> None:
    for other in SIGNALS:
        signal.signal(other, _again)
    _RECEIVED.append(signum)
    raise Stopped(signum)


def _again(signum, frame) -> None:
    os._exit(STOPPED_STATUS)
