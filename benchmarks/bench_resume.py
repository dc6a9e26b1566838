"""What being resumable costs, and what a stop loses: the dense run of `harness lth --prepare-only`
(`smoke`, three epochs on the suite's image set; twenty on the quick scale's, so that a signal still
finds it training), run as a user runs it.

- `save_share`: the seconds spent saving resumable states over the training's seconds, at the default
  interval (one state an epoch, and one at the end); the README's target is at most 2% on `smoke`.
- `seconds_per_save`: one state (weights, optimizer state, progress) serialized and written.
- `seconds_to_stop_after_sigterm`: SIGTERM half way through the second epoch: the seconds until the
  command exited (its training saved at its next step boundary: at most one step, then the save and
  the exit), and `steps_redone_after_sigterm`, the steps the rerun trains again (none).
- `steps_redone_after_sigkill`: SIGKILL at the same point: the steps the rerun trains again, those
  since the last state (at most one interval), as far as the progress written down each second shows
  (the last second's steps are not known, so this is a floor).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import image_folder, scale
from pipelines.train.resume import TrainingState

HARNESS = Path(sys.executable).with_name("harness")
WORKLOAD, EPOCHS = "smoke", {"full": 3, "quick": 20}[scale().name]


def dense_run(data: Path, out: Path, wait: bool = True):
    environment = {k: v for k, v in os.environ.items() if k != "LTH_HARNESS_STOP_AT"}  # no rehearsed stop
    command = [str(HARNESS), "lth", "--data", str(data), "--workload", WORKLOAD, "--epochs", str(EPOCHS),
               "--rewind", "0", "--sparsity", "0.5", "--scope", "layer", "--prepare-only", "--out", str(out), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    if wait:
        process.wait()
    return process


def dense(out: Path) -> dict:
    return json.loads((out / "dense.json").read_bytes())


def measure(data: Path, work: Path) -> dict:
    dense_run(data, work / "clean")
    clean = dense(work / "clean")
    per_epoch = clean["steps_per_epoch"]
    figures = {"save_share": clean["save_seconds"] / clean["train_seconds"],
               "seconds_per_save": clean["save_seconds"] / clean["saves"]}

    told = per_epoch + per_epoch // 2  # half way through the second epoch
    stopped = work / "sigterm"
    process = dense_run(data, stopped, wait=False)
    signalled = _signal_at(process, stopped, told, signal.SIGTERM)
    process.wait()
    figures["seconds_to_stop_after_sigterm"] = time.perf_counter() - signalled
    dense_run(data, stopped)
    figures["steps_redone_after_sigterm"] = _resumed(stopped)["redone_steps"]

    killed = work / "sigkill"
    process = dense_run(data, killed, wait=False)
    _signal_at(process, killed, told, signal.SIGKILL)
    process.wait()
    dense_run(data, killed)
    figures["steps_redone_after_sigkill"] = _resumed(killed)["redone_steps"]
    figures["steps_per_epoch"] = per_epoch
    return figures


def _signal_at(process, out: Path, step: int, signum: int) -> float:
    """Send `signum` once the dense run wrote down that it reached `step`; when it was sent."""
    training = TrainingState(out / "resume" / "dense")
    while process.poll() is None and training.reached().get("step", 0) < step:
        time.sleep(0.05)
    process.send_signal(signum)
    return time.perf_counter()


def _resumed(out: Path) -> dict:
    resumes = dense(out)["resumes"]
    if not resumes:
        raise RuntimeError(f"the dense run in {out} ended before the signal reached it: nothing was resumed")
    return resumes[0]


def tracked(figure: str, unit: str):
    """An asv `track_` method reporting one figure of the measurement `setup_cache` made once."""
    def track(self, figures):
        return figures[figure]

    track.__name__, track.unit = f"track_{figure}", unit
    return track


class Resumable:
    timeout = 1800

    def setup_cache(self):
        work = Path(tempfile.mkdtemp(prefix="bench-resume-"))
        try:
            return measure(image_folder(), work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    track_save_share = tracked("save_share", "ratio")
    track_seconds_per_save = tracked("seconds_per_save", "seconds")
    track_seconds_to_stop_after_sigterm = tracked("seconds_to_stop_after_sigterm", "seconds")
    track_steps_redone_after_sigterm = tracked("steps_redone_after_sigterm", "steps")
    track_steps_redone_after_sigkill = tracked("steps_redone_after_sigkill", "steps")
