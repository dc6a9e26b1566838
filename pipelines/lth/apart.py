"""The dense run and the masks in a process of their own: how MPI rank 0 prepares a search.

TensorFlow fixes its thread pools when it first runs, and the number of threads changes the order
of its floating-point sums, so a dense run trained with one rank's share of the cores differs from
the one the serial executor trains with all of them, and so would every mask and ticket after it.
Rank 0 therefore prepares in a child process with the search's own setting (`--threads`, else all
the node's cores) and the node's GPUs, while the other ranks wait, then trains tickets with its
share like every rank. The child speaks JSON lines on stdout: `{"log": line}` while it works, then
`{"dense": ..., "warnings": [...]}`, `{"input_error": message}` or `{"fault": line}` (a full disk, ...).
A stop of the rank is passed on to the child as SIGUSR1: the dense run saves its state and the child
exits with the stopped status within the grace period (pipelines.stop), or is killed after it.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import signal
import subprocess
import sys

from pipelines import faults, stop
from pipelines.errors import UserInputError
from pipelines.lth.config import LthConfig
from pipelines.lth.prepare import Log, prepare


def prepare_apart(config: LthConfig, log: Log, warnings: list[str], environment: dict[str, str],
                  quiet: bool = True) -> list[dict]:
    """`prepare(config, log, warnings)` run by a child process started with `environment`."""
    child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE if quiet else None, env=environment)
    try:
        child.stdin.write(pickle.dumps(config))
        child.stdin.close()
        outcome = {}
        for line in child.stdout:
            message = json.loads(line)
            if "log" in message:
                log(message["log"])
            else:
                outcome = message
        errors = child.stderr.read().decode(errors="replace") if quiet else ""
        returncode = child.wait()
    finally:  # a stop (pipelines.stop) or an error here must not leave the child training
        if child.poll() is None and stop.received() is not None:  # it saves its training's state, then ends
            child.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(stop.grace())
        if child.poll() is None:
            child.kill()
            child.wait()
    if "input_error" in outcome:
        raise UserInputError(outcome["input_error"])
    if "fault" in outcome:
        raise faults.MachineFault(outcome["fault"])
    if returncode != 0 or not outcome:
        raise RuntimeError(f"the dense run's process failed ({faults.ending(returncode)}): "
                           f"{errors.strip()[-2000:]}")
    warnings += outcome["warnings"]
    return outcome["dense"]


def _main() -> None:
    protocol = sys.stdout
    sys.stdout = sys.stderr  # whatever else prints must not break the JSON lines

    def say(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    stop.stop_on_signals(worker=True)  # its parent passes a stop on
    config = pickle.loads(sys.stdin.buffer.read())
    warnings: list[str] = []
    try:
        dense = prepare(config, lambda line: say({"log": line}), warnings)
    except stop.Stopped:  # the dense run's state is saved (pipelines.train.resumable_fit)
        sys.exit(stop.STOPPED_STATUS)
    except UserInputError as error:
        say({"input_error": str(error)})
        return
    except Exception as error:
        line = faults.describe(error)
        if line is None:
            raise
        say({"fault": line})
        return
    say({"dense": dense, "warnings": warnings})


if __name__ == "__main__":
    _main()
