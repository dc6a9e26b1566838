"""A worker that dies (SIGKILL as the out-of-memory killer sends it, a segfault, os._exit) costs only
its job: the job is stored as failed naming how the worker ended, a fresh worker takes the slot's
next job, the other jobs finish, and a rerun retries the failed one.

The fast tests run the multiprocessing executor on toy jobs (no TensorFlow): the job functions are
module-level here so that spawned workers can unpickle them; one test does the same under
`mpiexec -n 2`, and one end-to-end test kills a real `harness lth` worker mid-ticket.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from pipelines.executors import ExecutorSettings, pool, run_jobs
from pipelines.executors.mpi import Solo
from pipelines.executors.store import ResultStore
from tests.conftest import HARNESS, LTH_GRID


@dataclass(frozen=True)
class ToyJob:
    job_id: str
    action: str = "finish"
    folder: str = ""  # where `die-once` leaves its mark
    cost: float = 1.0

    def describe(self) -> dict:
        return {"job_id": self.job_id, "action": self.action}


def die_once(job: ToyJob) -> None:
    mark = Path(job.folder) / f"{job.job_id}.tried"
    if not mark.exists():
        mark.touch()
        os.kill(os.getpid(), signal.SIGKILL)


ACTIONS = {
    "finish": lambda job: time.sleep(0.3),
    "sigkill": lambda job: os.kill(os.getpid(), signal.SIGKILL),
    "exit": lambda job: os._exit(3),
    "segfault": lambda job: ctypes.string_at(0),
    "sleep": lambda job: time.sleep(60),
    "die-once": die_once,
}


def run_toy(job: ToyJob, slot) -> dict:
    ACTIONS[job.action](job)
    return {**job.describe(), "status": "done", "pid": os.getpid(), "slot": slot.index}


def spawned_children() -> list[psutil.Process]:
    """This process's multiprocessing workers still alive (the resource tracker is not one)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            pass
    return found


def results(store: ResultStore, jobs) -> dict[str, dict]:
    return {job.job_id: store.load(job.job_id) for job in jobs}


def test_a_killed_worker_costs_only_its_job_and_a_fresh_worker_takes_the_rest(tmp_path):
    store = ResultStore(tmp_path)
    jobs = [ToyJob("a"), ToyJob("b"), ToyJob("killed", "sigkill"), ToyJob("d"), ToyJob("e")]
    reported = []
    pool.run(run_toy, jobs, store, reported.append, workers=2)
    got = results(store, jobs)
    assert got["killed"]["status"] == "failed"
    assert re.fullmatch(r"worker process \d+ died: killed by SIGKILL \(signal 9\) \(out of memory\?\), "
                        r"peak memory at least \d+ MiB \(sampled\)", got["killed"]["error"])
    assert got["killed"]["action"] == "sigkill"  # the job's description is recorded with it
    done = [result for result in got.values() if result["status"] == "done"]
    assert len(done) == 4
    dead_pid = int(got["killed"]["error"].split("worker process ")[1].split()[0])
    pids = {result["pid"] for result in done}
    # the dead worker ran `a` or `b` before `killed`; two others ran the rest: the survivor and a replacement
    assert dead_pid in pids and len(pids) == 3
    assert {result["slot"] for result in done} == {0, 1}  # ... in the dead worker's slot
    assert reported == [1, 2, 3, 4, 5]  # the failed job counts as done
    assert spawned_children() == []


@pytest.mark.parametrize("action, cause", [("exit", "exit status 3"), ("segfault", "killed by SIGSEGV (signal 11)")])
def test_a_worker_that_ends_otherwise_is_named_by_how_it_ended(tmp_path, action, cause):
    store = ResultStore(tmp_path)
    jobs = [ToyJob("dies", action), ToyJob("after")]
    pool.run(run_toy, jobs, store, workers=1)
    got = results(store, jobs)
    assert got["dies"]["status"] == "failed" and cause in got["dies"]["error"], got["dies"]
    assert got["after"]["status"] == "done"
    assert spawned_children() == []


class Stop(Exception):
    pass


def test_a_raise_in_the_parent_kills_the_workers_at_once(tmp_path):
    def stop(done):
        raise Stop

    store = ResultStore(tmp_path)
    started = time.monotonic()
    with pytest.raises(Stop):
        pool.run(run_toy, [ToyJob("long", "sleep"), ToyJob("short")], store, stop, workers=2)
    assert time.monotonic() - started < 20  # not the 60 s the long job sleeps
    assert spawned_children() == []
    assert store.read("long") is None


def test_a_rerun_retries_the_job_whose_worker_died(tmp_path):
    store = ResultStore(tmp_path / "jobs")
    jobs = [ToyJob("kept"), ToyJob("flaky", "die-once", str(tmp_path))]
    settings = ExecutorSettings("multiprocessing", 2)
    first = {result["job_id"]: result for result in run_jobs(settings, run_toy, jobs, store, Solo())}
    assert first["flaky"]["status"] == "failed" and first["kept"]["status"] == "done"
    kept = store.path("kept").stat().st_mtime_ns
    second = {result["job_id"]: result for result in run_jobs(settings, run_toy, jobs, store, Solo())}
    assert second["flaky"]["status"] == "done"
    assert store.path("kept").stat().st_mtime_ns == kept  # finished: not run again


MPI_RANKS = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from pipelines.executors import mpi
    from pipelines.executors.store import ResultStore
    from test_worker_death import ToyJob, run_toy

    team = mpi.Team()
    jobs = [ToyJob(str(i), "sigkill" if i == 1 else "finish") for i in range(5)]
    mpi.run(run_toy, jobs, ResultStore(sys.argv[1]), team=team)
    Path(sys.argv[2], f"rank-{team.rank}.pid").write_text(str(os.getpid()))  # not stdout: mpiexec
""")  # interleaves the ranks' output without keeping their lines whole


@pytest.mark.slow
def test_under_mpi_a_ranks_dead_worker_costs_only_its_job(tmp_path):
    """Each rank runs its jobs in a child worker: the child's death is recorded, the ranks go on."""
    mpiexec = Path(sys.executable).with_name("mpiexec")
    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent)])}
    results, pids = tmp_path / "jobs", tmp_path / "ranks"
    pids.mkdir()
    ranks = subprocess.run([str(mpiexec), "-n", "2", sys.executable, "-c", MPI_RANKS, str(results), str(pids)],
                           capture_output=True, text=True, timeout=300, env=env)
    assert ranks.returncode == 0, ranks.stderr
    rank_pids = {int(path.read_text()) for path in pids.glob("rank-*.pid")}
    assert len(rank_pids) == 2
    got = {path.stem: json.loads(path.read_text()) for path in results.glob("*.json")}
    assert sorted(got) == ["0", "1", "2", "3", "4"]
    assert got["1"]["status"] == "failed" and "SIGKILL" in got["1"]["error"]
    done = [result for result in got.values() if result["status"] == "done"]
    assert len(done) == 4 and not {result["pid"] for result in done} & rank_pids  # the ranks' children ran them


@pytest.mark.slow
def test_a_killed_lth_worker_fails_its_ticket_and_a_rerun_retries_it(tiny_data, lth_search, tmp_path):
    out = tmp_path / "search"  # the shared search's dense run and masks, its tickets to train again
    shutil.copytree(lth_search[0], out, ignore=shutil.ignore_patterns("jobs", "summary.json"))
    command = [str(HARNESS), "lth", "--data", str(tiny_data), *LTH_GRID, "--control", "random", "--out", str(out),
               "--executor", "multiprocessing", "--workers", "1"]
    with open(tmp_path / "stderr", "w") as stderr:
        lth = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        victim = worker_busy_on_a_ticket(lth, out / "dense.json")
        victim.kill()
        assert lth.wait(timeout=600) == 1
    finally:
        lth.kill()
    log = (tmp_path / "stderr").read_text()
    jobs = {path.stem: json.loads(path.read_text()) for path in (out / "jobs").glob("*.json")}
    failed = [job_id for job_id, result in jobs.items() if result["status"] != "done"]
    assert len(jobs) == 3 and len(failed) == 1, log
    assert f"1 job(s) failed: {failed[0]}" in log
    assert f"worker process {victim.pid} died: killed by SIGKILL (signal 9)" in jobs[failed[0]]["error"]
    kept = {path.name: path.read_bytes() for path in (out / "jobs").glob("*.json") if path.stem != failed[0]}

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert {path.name: path.read_bytes() for path in (out / "jobs").glob("*.json") if path.stem != failed[0]} == kept
    assert json.loads((out / "jobs" / f"{failed[0]}.json").read_text())["status"] == "done"


def worker_busy_on_a_ticket(lth: subprocess.Popen, dense: Path) -> psutil.Process:
    """A pool worker of the command that has worked over 2 s of CPU since the dense run ended."""
    deadline = time.time() + 600
    while not dense.exists():
        assert lth.poll() is None and time.time() < deadline, "the dense run did not finish"
        time.sleep(0.5)
    while True:
        assert lth.poll() is None and time.time() < deadline, "no worker got to a ticket"
        for child in psutil.Process(lth.pid).children():
            try:
                if "spawn_main" in " ".join(child.cmdline()) and sum(child.cpu_times()[:2]) > 2:
                    return child
            except psutil.Error:
                pass
        time.sleep(0.2)
