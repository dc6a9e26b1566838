"""Stops and resumes of whole searches: `harness lth` sent SIGTERM inside the dense run and inside a
ticket, under every executor, then run again, ends with the tickets an uninterrupted search has,
having trained only the steps that remained (pipelines.stop, pipelines.train.resumable_fit).

The SIGTERM comes from a rehearsed preemption (LTH_HARNESS_STOP_AT=TRAINING:STEP, README "Stopping,
resuming and preemption"): the training sends it to the command (mpiexec under MPI) once it has
trained that step, as a time limit would, so the stop lands at a chosen step however loaded the
machine is. The command passes it on as a cluster would see it: to its pool workers, or through
mpiexec to the ranks and their children.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pipelines.stop import STOPPED_STATUS
from tests.conftest import HARNESS, LTH_GRID

STOPPED_LINE = "stopped by SIGTERM: what finished is kept; run the same command again to continue"
TICKET = "layer-s0.5000-rewind0"  # 8 steps, from the initialization
EXECUTORS = {"serial": (), "multiprocessing": ("--executor", "multiprocessing", "--workers", "2"),
             "mpi": ("--executor", "mpi", "--workers", "2")}


def search(data, out, executor: str, stop_at: str | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "LTH_HARNESS_STOP_AT"}
    if stop_at:
        environment["LTH_HARNESS_STOP_AT"] = stop_at
    return subprocess.run([str(HARNESS), "lth", "--data", str(data), *LTH_GRID, "--control", "random", "--out", str(out),
                           *EXECUTORS[executor], "--json"], capture_output=True, text=True, env=environment,
                          timeout=600)


def tickets(summary: dict) -> list:
    return [(t["job_id"], t["top1"], t["loss"]) for t in summary["tickets"]]


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_a_search_stopped_in_the_dense_run_then_in_a_ticket_ends_as_if_never_stopped(executor, tiny_data, lth_search,
                                                                                      tmp_path):
    out = tmp_path / "search"
    if executor == "multiprocessing":  # its dense run is the command's own, as serial's: start with it done
        shutil.copytree(lth_search[0], out, ignore=shutil.ignore_patterns("jobs", "summary.json"))
    else:
        stopped = search(tiny_data, out, executor, stop_at="dense:3")  # inside the first epoch of four steps
        assert stopped.returncode == STOPPED_STATUS, stopped.stderr
        assert stopped.stderr.strip().splitlines()[-1] == STOPPED_LINE and "Traceback" not in stopped.stderr
        assert not (out / "dense.json").exists() and list((out / "resume" / "dense").glob("state-*.npz"))

    stopped = search(tiny_data, out, executor, stop_at=f"{TICKET}:5")
    assert stopped.returncode == STOPPED_STATUS, stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1] == STOPPED_LINE and "Traceback" not in stopped.stderr
    if executor != "multiprocessing":
        assert "dense: resumed at step" in stopped.stderr
        [resume] = json.loads((out / "dense.json").read_bytes())["resumes"]
        assert resume["step"] in (3, 4) and resume["redone_steps"] == 0  # saved at the step it was told, or the next
    assert not (out / "jobs" / f"{TICKET}.json").exists()

    finished = search(tiny_data, out, executor)
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout.splitlines()[-1])
    assert tickets(summary) == tickets(lth_search[1])  # bit for bit: the same top-1 and loss as never stopped
    [resume] = json.loads((out / "jobs" / f"{TICKET}.json").read_bytes())["resumes"]
    assert resume["step"] in (5, 6) and resume["redone_steps"] == 0
    assert not (out / "resume").exists()  # every state removed once its result was written
    assert [len(row["resumes"]) for row in summary["tickets"] if row["job_id"] == TICKET] == [1]
    if executor == "serial":  # the report says which trainings were resumed, from where
        report = subprocess.run([str(HARNESS), "report", str(tmp_path), "--out", str(tmp_path / "r.html")],
                                capture_output=True, text=True, timeout=300)
        assert report.returncode == 0, report.stderr
        page = (tmp_path / "r.html").read_text()
        assert "Trainings stopped and resumed" in page and f"<td>{TICKET}</td>" in page and "<td>dense</td>" in page


STOP_IN_A_LONG_STEP = """
import os, signal, sys, time
from pipelines import stop
stop.stop_on_signals()
stop.set_grace(1)
try:
    with stop.at_step_boundaries():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)  # a step that does not end
except stop.Stopped as stopped:
    print("stopped by", stopped.name)
"""


def test_a_stop_that_no_step_boundary_honours_is_raised_when_the_grace_period_ends():
    result = subprocess.run([sys.executable, "-c", STOP_IN_A_LONG_STEP], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "stopped by SIGTERM", result.stderr


WORKER_TAKES_ONE_SIGNAL = """
import os, signal, time
from pipelines import stop
stop.stop_on_signals(worker=True)
with stop.at_step_boundaries():
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches the whole process group
    os.kill(os.getpid(), signal.SIGUSR1)  # and the parent passes it on
    time.sleep(0.2)
    print("saving")
    stop.honour()
"""


def test_a_worker_told_twice_saves_once_and_stops():
    result = subprocess.run([sys.executable, "-c", WORKER_TAKES_ONE_SIGNAL], capture_output=True, text=True,
                            timeout=30)
    assert result.stdout.strip() == "saving"
    assert "Stopped: 2" in result.stderr  # SIGINT's, raised by honour() after the save


@pytest.mark.slow
def test_sigkill_loses_at_most_the_steps_since_the_last_save(tiny_data, lth_search, tmp_path):
    out = tmp_path / "search"
    command = [str(HARNESS), "lth", "--data", str(tiny_data), *LTH_GRID, "--control", "random", "--out", str(out),
               "--save-every", "1it", "--json"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((out / "resume").glob("*/state-*.npz")):  # some training has saved a state
        assert first.poll() is None and time.time() < deadline
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    newest = {}  # training -> the step of its newest state, for those whose result was not written yet
    for path in (out / "resume").glob("*/state-*.npz"):
        result = out / ("dense.json" if path.parent.name == "dense" else f"jobs/{path.parent.name}.json")
        if not result.exists():
            newest[result] = max(newest.get(result, 0), int(path.stem.split("-")[1]))
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert tickets(json.loads(finished.stdout.splitlines()[-1])) == tickets(lth_search[1])
    for result, step in newest.items():
        assert json.loads(result.read_bytes())["resumes"][0]["step"] == step, result
