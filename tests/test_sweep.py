"""Sweep executors for real: a multiprocessing pool, `mpiexec -n 2` from the venv, Elephas on local Spark.

One dense run is shared: its folder (checkpoints, masks) is copied for each executor, so every
executor retrains the same two tickets and their results can be compared with serial's.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.conftest import HARNESS

pytestmark = pytest.mark.slow

GRID = ("--workload", "smoke", "--epochs", "2", "--rewind", "0,1", "--sparsity", "0.5", "--scope", "layer")


def lth(data, out, *extra, check=True):
    command = [str(HARNESS), "lth", "--data", str(data), *GRID, "--out", str(out), "--json", *map(str, extra)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def summary_of(result):
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def serial(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "serial"
    return out, summary_of(lth(tiny_data, out, "--executor", "serial"))


def fresh_copy(serial_out, target):
    """The serial search's folder without its job results: dense run and masks kept, tickets to redo."""
    shutil.copytree(serial_out, target, ignore=shutil.ignore_patterns("jobs", "summary.json"))
    return target


def by_job(summary):
    return {row["job_id"]: row for row in summary["tickets"]}


@pytest.mark.parametrize("executor", ["multiprocessing", "mpi"])
def test_parallel_executors_match_serial(executor, serial, tiny_data, tmp_path):
    serial_out, serial_summary = serial
    out = fresh_copy(serial_out, tmp_path / executor)
    summary = summary_of(lth(tiny_data, out, "--executor", executor, "--workers", "2"))
    assert summary["failed"] == []
    got, want = by_job(summary), by_job(serial_summary)
    assert set(got) == set(want) == {"layer-s0.5000-rewind0", "layer-s0.5000-rewind1"}
    for job_id in want:
        assert got[job_id]["top1"] == want[job_id]["top1"]
        assert got[job_id]["top5"] == want[job_id]["top5"]
        assert got[job_id]["masked_nonzero"] == 0
    # each worker (process or MPI rank) wrote the result of the job it took: two jobs, two workers
    pids = {json.loads(p.read_text())["worker"]["pid"] for p in (out / "jobs").glob("*.json")}
    assert len(pids) == 2


def test_elephas_trains_each_ticket_data_parallel_and_keeps_the_mask(serial, tiny_data, tmp_path):
    serial_out, _ = serial
    out = fresh_copy(serial_out, tmp_path / "elephas")
    summary = summary_of(lth(tiny_data, out, "--executor", "elephas", "--workers", "2"))
    assert summary["failed"] == [] and len(summary["tickets"]) == 2
    for row in summary["tickets"]:
        assert row["masked_nonzero"] == 0 and 0 <= row["top1"] <= 1
    results = [json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")]
    assert {r["masking"] for r in results} == {"constraint"}


def test_a_failing_job_is_recorded_and_named_while_the_others_finish(serial, tiny_data, tmp_path):
    serial_out, _ = serial
    out = fresh_copy(serial_out, tmp_path / "broken")
    (out / "checkpoints" / "epoch-001.weights.h5").unlink()  # rewind 1 cannot load its weights
    result = lth(tiny_data, out, "--executor", "serial", check=False)
    assert result.returncode == 1
    assert "1 job(s) failed: layer-s0.5000-rewind1" in result.stderr
    summary = summary_of(result)
    assert [row["job_id"] for row in summary["tickets"]] == ["layer-s0.5000-rewind0"]
    assert summary["failed"][0]["job_id"] == "layer-s0.5000-rewind1"


def test_killed_sweep_loses_only_the_jobs_in_flight(serial, tiny_data, tmp_path):
    serial_out, serial_summary = serial
    out = fresh_copy(serial_out, tmp_path / "killed")
    command = [str(HARNESS), "lth", "--data", str(tiny_data), *GRID, "--out", str(out), "--executor", "serial"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not list((out / "jobs").glob("*.json")) and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p.name: p.read_bytes() for p in (out / "jobs").glob("*.json")}
    assert len(finished) == 1  # the second job was in flight and is lost
    summary = summary_of(lth(tiny_data, out, "--executor", "serial"))
    assert {p.name: p.read_bytes() for p in (out / "jobs").glob(next(iter(finished)))} == finished
    assert by_job(summary).keys() == by_job(serial_summary).keys()
    assert not list((out / "jobs").glob(".*"))
