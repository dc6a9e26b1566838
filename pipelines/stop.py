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

While a training runs (`at_step_boundaries`), the first signal is only recorded: the training saves
its resumable state at the next step boundary and then raises `Stopped` (`honour`), so a stop
costs no training. If no step boundary comes within the grace period (`--grace`; a step, a
validation or a first trace that outlasts it), `Stopped` is raised anyway, losing the steps since
the last save. A second signal ends a command at once with the same status; a worker process
(`stop_on_signals(worker=True)`: pool workers, MPI ranks' children, the dense run's process) takes
no second signal, since its parent forwards the one it already has, and the parent's own grace
period ends it.
"""

from __future__ import annotations

import contextlib
import os
import signal

STOPPED_STATUS = 3  # the command was stopped by a signal before it finished; run it again to continue
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP)
GRACE_VARIABLE = "LTH_HARNESS_GRACE"  # seconds; inherited by the processes a command starts
COMMAND_VARIABLE = "LTH_HARNESS_COMMAND_PID"  # the command a rehearsed stop signals (mpiexec, under MPI)
REHEARSAL_VARIABLE = "LTH_HARNESS_STOP_AT"  # TRAINING:STEP, a rehearsed preemption
DEFAULT_GRACE = 20.0  # within SLURM's default KillWait (30 s between SIGTERM and SIGKILL)


class Stopped(BaseException):
    """Raised in the main thread by the first stop signal. A BaseException, like KeyboardInterrupt:
    `except Exception` clauses (a job recorded as failed, a file skipped) must not swallow a stop."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def stop_on_signals(worker: bool = False) -> None:
    """Install the handlers; call once, from the main thread, before the work starts."""
    _STATE["worker"] = worker
    os.environ.setdefault(COMMAND_VARIABLE, str(os.getpid()))  # a worker's is its command's
    for signum in SIGNALS:
        signal.signal(signum, _first)


def set_grace(seconds: float) -> None:
    """The grace period of this process and of every process it starts from now on."""
    os.environ[GRACE_VARIABLE] = repr(float(seconds))


def grace() -> float:
    return float(os.environ.get(GRACE_VARIABLE, DEFAULT_GRACE))


_RECEIVED: list[int] = []  # the first stop signal, once one came
_STATE = {"worker": False, "deferring": 0, "raised": False}


def received() -> Stopped | None:
    """The stop a signal asked for, if one did. `Stopped` raised while native code was calling back
    into Python (TensorFlow's tracing, say) can come out of that code as another exception (a
    SystemError, a bare TypeError): the command is still stopped, not broken."""
    return Stopped(_RECEIVED[0]) if _RECEIVED else None


@contextlib.contextmanager
def at_step_boundaries():
    """Within: a stop signal waits for `honour()` at a step boundary (or the grace period's end).
    A stop still pending when the block ends is honoured then."""
    _STATE["deferring"] += 1
    try:
        yield
    finally:
        _STATE["deferring"] -= 1
    honour()


def honour() -> None:
    """Raise the pending stop, if there is one (call it where the work can stop: the state saved)."""
    if _RECEIVED and not _STATE["raised"]:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _STATE["raised"] = True
        raise Stopped(_RECEIVED[0])


def rehearse(training: str, step: int) -> None:
    """A rehearsed preemption: with LTH_HARNESS_STOP_AT=TRAINING:STEP in the environment, send the
    command (the process that first installed these handlers; mpiexec under MPI) SIGTERM once
    `training` ("dense", or a job's id) has trained `step` steps in this process, as a time limit
    would. The resumed run starts past that step, so it is not stopped again there.

    A worker (a pool's, or an MPI rank's child) also takes the stop itself at once, as if the
    command's had already reached it: the hops from mpiexec to the rank to its child take longer
    than a small network's steps on a loaded machine, and the rehearsal promises the step."""
    wanted = os.environ.get(REHEARSAL_VARIABLE)
    if wanted and wanted == f"{training}:{step}":
        os.kill(int(os.environ.get(COMMAND_VARIABLE, os.getpid())), signal.SIGTERM)
        if _STATE["worker"] and not _RECEIVED:
            _first(signal.SIGTERM, None)


def _first(signum, frame) -> None:
    for other in SIGNALS:
        signal.signal(other, _again)
    _RECEIVED.append(signum)
    if _STATE["deferring"]:
        signal.signal(signal.SIGALRM, _grace_over)
        signal.setitimer(signal.ITIMER_REAL, grace())
        return
    _STATE["raised"] = True
    raise Stopped(signum)


def _grace_over(signum, frame) -> None:
    honour()


def _again(signum, frame) -> None:
    if not _STATE["worker"]:
        os._exit(STOPPED_STATUS)
