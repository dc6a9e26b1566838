"""A `kill -9` of a running command leaves none of its processes behind: pool workers, multiprocessing's
resource tracker, Spark's JVM and Python workers, mpiexec and its ranks all end with it.

Each test starts the installed console script as a user would, waits until the command's workers
exist, records every descendant (once the command is killed they are re-parented and no longer its
descendants), SIGKILLs the command's own process and expects every recorded process gone within
GONE_WITHIN_S. Whatever survives is killed, so that a failing test leaves nothing running.
"""

import shutil
import subprocess
import time

import psutil
import pytest

from tests.conftest import HARNESS, LTH_GRID

pytestmark = pytest.mark.slow

GONE_WITHIN_S = 15


def spawned_workers(family: list[psutil.Process]) -> int:
    """How many of the processes are multiprocessing's spawned children (pool workers)."""
    return sum("spawn_main" in " ".join(cmdline(p)) for p in family)


def cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def alive(process: psutil.Process) -> bool:
    """Still running: a zombie is dead (nothing may reap it in a container without an init)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def survivors_of_kill(args, ready, log) -> list[str]:
    """Start `harness *args`, wait until `ready(descendants)`, SIGKILL the command; return a description
    of each descendant still alive GONE_WITHIN_S later."""
    with open(log, "w") as stderr:
        command = subprocess.Popen([str(HARNESS), *map(str, args)], stdout=subprocess.DEVNULL, stderr=stderr)
    family: list[psutil.Process] = []
    try:
        deadline = time.time() + 300
        while not ready(family := psutil.Process(command.pid).children(recursive=True)):
            assert command.poll() is None, f"the command ended before its workers were seen:\n{log.read_text()}"
            assert time.time() < deadline, f"no workers after 300 s:\n{log.read_text()}"
            time.sleep(0.2)
        command.kill()
        command.wait()
        deadline = time.time() + GONE_WITHIN_S
        while any(map(alive, family)) and time.time() < deadline:
            time.sleep(0.5)
        return [f"{p.pid} {' '.join(cmdline(p))[:160]}" for p in family if alive(p)]
    finally:
        command.kill()
        for process in family:
            if alive(process):
                process.kill()


def test_local_preprocess_pool_dies_with_the_command(tiny_data, tmp_path):
    args = ("data", "preprocess", tiny_data, tmp_path / "shards", "--engine", "local", "--workers", "2",
            "--size", "32", "--shards", "8")
    assert survivors_of_kill(args, lambda family: spawned_workers(family) >= 2, tmp_path / "stderr") == []


def test_spark_preprocess_dies_with_the_command(tiny_data, tmp_path):
    """The JVM ends when its stdin (a pipe from the driver) closes, and pyspark's daemon when the JVM
    goes, taking the Python workers it forked with it."""
    def python_workers(family):  # the daemon and at least one worker forked from it
        return sum("pyspark.daemon" in " ".join(cmdline(p)) for p in family) >= 2

    args = ("data", "preprocess", tiny_data, tmp_path / "shards", "--engine", "spark", "--size", "32",
            "--shards", "8")
    assert survivors_of_kill(args, python_workers, tmp_path / "stderr") == []


def test_multiprocessing_sweep_dies_with_the_command(lth_search, tiny_data, tmp_path):
    """The pool exists only while tickets train: the shared search's dense run and masks are copied
    without its ticket results, so the command goes straight to the tickets."""
    out = tmp_path / "search"
    shutil.copytree(lth_search[0], out, ignore=shutil.ignore_patterns("jobs", "summary.json"))
    args = ("lth", "--data", tiny_data, *LTH_GRID, "--out", out, "--executor", "multiprocessing", "--workers", "2")
    assert survivors_of_kill(args, lambda family: spawned_workers(family) >= 2, tmp_path / "stderr") == []


def test_mpi_relaunch_dies_with_the_command(tiny_data, tmp_path):
    def ranks(family):
        return sum(cmdline(p)[1:3] == ["-m", "harness.cli"] for p in family) >= 2

    args = ("lth", "--data", tiny_data, *LTH_GRID, "--out", tmp_path / "search", "--executor", "mpi",
            "--workers", "2")
    assert survivors_of_kill(args, ranks, tmp_path / "stderr") == []
