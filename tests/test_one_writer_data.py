"""One writer per folder (pipelines.folder_lock) for the data commands and the sweep benchmark: a second
writer of a shard folder, a cache folder or the sweep benchmark's prepared search is refused in one
line naming the first; what a killed cached run leaves does not stop the next one; and the sweep
benchmark's child search, its workers and its temporary folder never outlive the benchmark."""

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from harness import sweep_bench
from pipelines.data import online
from pipelines.data.online import cached
from pipelines.data.shards import open_source
from pipelines.data.source import ImageFolderSource
from pipelines.folder_lock import LOCK_NAME, holding
from pipelines.stop import STOPPED_STATUS, Stopped
from tests.conftest import HARNESS

GONE_WITHIN_S = 10


def start(argv: list, env=None) -> subprocess.Popen:
    """`argv` in the background, its stderr in a file (a pipe that nobody reads can fill)."""
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(list(map(str, argv)), stdout=subprocess.DEVNULL, stderr=log, text=True, env=env)
    process.log = log
    return process


def stderr_of(process: subprocess.Popen) -> str:
    process.log.seek(0)
    return process.log.read()


def wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 300, every: float = 0.05) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, f"the command ended before {what}: {stderr_of(process)}"
        assert time.time() < deadline, f"no {what} after {timeout} s"
        time.sleep(every)


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.05)


def refused(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, one line, no traceback, naming each fragment."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@contextlib.contextmanager
def paused(process: subprocess.Popen):
    """The first writer stopped (SIGSTOP) while the block runs, so that it still holds its folder."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def holder_signed(folder: Path) -> bool:
    return (folder / LOCK_NAME).is_file() and bool((folder / LOCK_NAME).read_text().strip())


# ---- harness data preprocess ----------------------------------------------------------------------

def test_a_second_preprocess_into_the_same_out_is_refused_and_the_first_is_whole(tiny_data, tmp_path):
    out = tmp_path / "shards"
    args = ("data", "preprocess", tiny_data, out, "--engine", "local", "--workers", "2", "--size", "32",
            "--shards", "4")
    first = start([HARNESS, *args])
    wait_for(lambda: (out / ".progress").is_dir(), "the first job's marker", first)
    with paused(first):
        second = subprocess.run([str(HARNESS), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert first.wait(timeout=300) == 0, stderr_of(first)
    refused(second, str(out), f"pid {first.pid}")

    manifest = json.loads((out / "manifest.json").read_text())
    shards = [shard for split in manifest["splits"].values() for shard in split["files"]]
    for shard in shards:
        assert hashlib.sha256((out / shard["name"]).read_bytes()).hexdigest() == shard["sha256"], shard["name"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *(s["name"] for s in shards)])
    train = open_source(out).split("train")  # the harness's reader: manifest, digest, sizes
    labels = next(online.build("offline", train, online.PipelineSpec(32, 36, shuffle=False)).as_numpy_iterator())[1]
    assert len(labels) == 36


# ---- *-cached --cache-dir -------------------------------------------------------------------------

def cached_run(data: Path, cache: Path, results: Path) -> list[str]:
    """A short training fed from the cache (the smallest network, no decode-ceiling workers to start)."""
    return [str(HARNESS), "run", "--variant", "cpu-cached", "--data", str(data), "--workload", "lenet-smoke",
            "--steps", "2", "--warmup", "0", "--no-verdict", "--cache-dir", str(cache), "--sample-interval", "0",
            "--results", str(results)]


def test_a_cached_run_killed_while_filling_its_cache_does_not_stop_the_next(tiny_data, tmp_path):
    cache, command = tmp_path / "cache", cached_run(tiny_data, tmp_path / "cache", tmp_path / "results")
    for _ in range(3):  # tf.data's lockfile lives while the cache fills (a tenth of a second): kill it then
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while run.poll() is None and not list(cache.glob("*.lockfile")):
            time.sleep(0.001)
        run.kill()
        run.wait()
        if list(cache.glob("*.lockfile")):
            break
    else:
        pytest.fail("three runs filled their cache before they could be killed")
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    names = sorted(p.name for p in cache.iterdir())
    assert len(names) == 3 and names[0] == LOCK_NAME and names[1].endswith(".data-00000-of-00001"), names
    assert names[2].endswith(".index")  # the complete cache, and nothing of the killed run's


def test_a_second_writer_of_a_cache_dir_is_refused_naming_the_first(tiny_data, tmp_path):
    cache, results = tmp_path / "cache", tmp_path / "results"
    first = start(cached_run(tiny_data, cache, results))
    wait_for(lambda: holder_signed(cache), "the first run's lock", first)
    with paused(first):
        second = subprocess.run(cached_run(tiny_data, cache, results), capture_output=True, text=True, timeout=300)
    assert first.wait(timeout=300) == 0, stderr_of(first)
    refused(second, f"--cache-dir {cache}", f"pid {first.pid}")


def test_only_the_first_build_in_a_process_removes_a_killed_writers_cache_files(tiny_data, tmp_path):
    """Only the names tf.data derives from this cache's prefix go, and only at this process's first
    build: a second one (the verdict drains the pipeline again) leaves alone what its own iterators write."""
    cache = tmp_path / "cache"
    cache.mkdir()
    split = ImageFolderSource(tiny_data).split("train")
    spec = online.PipelineSpec(32, 4, cache_dir=str(cache))
    prefix = cached.cache_file(split, spec).name
    stale = [f"{prefix}_0.lockfile", f"{prefix}_0.data-00000-of-00001.tempstate123", f"{prefix}_0.index",
             f"{prefix}.index.tempstate456"]
    others = ["notes.txt", f"{prefix[:-1]}x_0.lockfile", f"val-32px-{prefix[-16:]}_0.lockfile", f"{prefix}.index"]
    for name in stale + others:
        (cache / name).write_text("x")
    online.build("cached", split, spec)
    assert sorted(p.name for p in cache.iterdir()) == sorted([*others, LOCK_NAME])
    (cache / stale[0]).write_text("this process's own writer")
    online.build("cached", split, spec)  # the same process again: not refused, and nothing removed
    assert (cache / stale[0]).is_file()


# ---- the sweep benchmark --------------------------------------------------------------------------

def test_a_second_sweep_benchmark_is_refused_while_one_prepares_its_search(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = sweep_bench.prepared_folder(tiny_data, "lenet-smoke", 0, "tensorflow")
    with holding(folder, "the sweep benchmark's prepared search"):
        result = subprocess.run([str(HARNESS), "run", "--variant", "sweep-serial", "--data", str(tiny_data),
                                 "--workload", "lenet-smoke", "--sample-interval", "0",
                                 "--results", str(tmp_path / "r")],
                                capture_output=True, text=True, timeout=300,
                                env={**os.environ, "TMPDIR": str(tmp_path)})
    refused(result, str(folder), f"pid {os.getpid()}")


@pytest.fixture
def fake_sweep(tmp_path, monkeypatch):
    """time_sweep with a prepared search of one file and a child that starts a grandchild and sleeps:
    returns (a marker in both processes' command lines, the file the child writes once both run)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "dense.json").write_text("{}")
    monkeypatch.setattr(sweep_bench, "prepared_search", lambda *args: contextlib.nullcontext(prepared))
    started = tmp_path / "started"
    sleeper = f"import time; time.sleep(60)  # {tmp_path}"
    child = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}]); "
             f"open({str(started)!r}, 'w').close(); time.sleep(60)  # {tmp_path}")
    monkeypatch.setattr(sweep_bench, "lth_command", lambda *args: [sys.executable, "-c", child])
    return str(tmp_path), started


def running(marker: str) -> list[psutil.Process]:
    """The live processes with `marker` in their command line."""
    return [p for p in psutil.process_iter() if marker in " ".join(cmdline(p)) and alive(p)]


def scratch_folders(tmp: Path) -> list[Path]:
    return sorted(Path(tmp).glob("lth-harness-sweep-run-*"))


def raise_stopped(signum, frame):
    raise Stopped(signum)


def test_a_stopped_sweep_kills_its_child_and_what_it_started_and_removes_its_folder(fake_sweep):
    marker, started = fake_sweep

    def stop_once_started(main=threading.get_ident()):
        wait_until(started.exists)
        signal.pthread_kill(main, signal.SIGUSR1)  # as pipelines.stop does on SIGTERM: Stopped in the main thread

    previous = signal.signal(signal.SIGUSR1, raise_stopped)
    try:
        threading.Thread(target=stop_once_started).start()
        with pytest.raises(Stopped):
            sweep_bench.time_sweep("serial", 1, Path(marker), "lenet-smoke", 0, "tensorflow")
    finally:
        signal.signal(signal.SIGUSR1, previous)
    wait_until(lambda: not running(marker), GONE_WITHIN_S)
    assert running(marker) == [] and scratch_folders(Path(marker)) == []


def test_a_killed_sweep_benchmark_takes_its_child_along(tmp_path):
    """SIGKILL: nothing runs in the benchmark, and the kernel kills the child (PDEATHSIG)."""
    started = tmp_path / "started"
    child = f"import time; open({str(started)!r}, 'w').close(); time.sleep(60)  # {tmp_path}"
    benchmark = start([sys.executable, "-c", "import sys; from pathlib import Path; "
                       "from harness.sweep_bench import _run_to_the_end; "
                       f"_run_to_the_end([sys.executable, '-c', {child!r}], 'serial', Path('.'))"])
    wait_for(started.exists, "the child", benchmark)
    benchmark.kill()
    benchmark.wait()
    wait_until(lambda: not running(str(tmp_path)), GONE_WITHIN_S)
    assert running(str(tmp_path)) == []


def test_a_failed_sweep_keeps_its_folder_and_names_it(fake_sweep, monkeypatch):
    marker, _ = fake_sweep
    monkeypatch.setattr(sweep_bench, "lth_command", lambda *args: [sys.executable, "-c", "raise SystemExit('no luck')"])
    with pytest.raises(sweep_bench.SweepFailed, match="the serial sweep failed: no luck") as failure:
        sweep_bench.time_sweep("serial", 1, Path(marker), "lenet-smoke", 0, "tensorflow")
    [kept] = scratch_folders(Path(marker))
    assert str(kept) in str(failure.value) and (kept / "search" / "dense.json").is_file()


@pytest.fixture(scope="module")
def sweep_tmp(tmp_path_factory) -> Path:
    """TMPDIR for the real sweep benchmarks: their prepared search (made once, by the first) and scratch."""
    return tmp_path_factory.mktemp("sweep-tmp")


def child_search(run: subprocess.Popen) -> list[psutil.Process]:
    """The benchmark's `harness lth` child, once it runs."""
    return [p for p in psutil.Process(run.pid).children(recursive=True)
            if "lth" in cmdline(p) and "--out" in cmdline(p)]


def cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def start_sweep(variant: str, tiny_data: Path, tmp: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """`harness run --variant VARIANT` under TMPDIR=tmp, once its child search runs: (the run, the
    child's --out)."""
    run = start([HARNESS, "run", "--variant", variant, "--data", tiny_data, "--workload", "lenet-smoke",
                 "--sample-interval", "0", "--results", tmp / "results", *extra], env={**os.environ, "TMPDIR": str(tmp)})
    wait_for(lambda: child_search(run), "the child search", run, timeout=600, every=0.2)
    argv = cmdline(child_search(run)[0])
    return run, argv[argv.index("--out") + 1]


@pytest.mark.slow
def test_sigterm_of_a_sweep_benchmark_ends_its_child_search_and_removes_its_folder(tiny_data, sweep_tmp):
    run, out = start_sweep("sweep-serial", tiny_data, sweep_tmp)
    time.sleep(3)  # the child imports and starts training
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=GONE_WITHIN_S) == STOPPED_STATUS, stderr_of(run)
    wait_until(lambda: not running(out), GONE_WITHIN_S)
    assert running(out) == [] and not Path(out).parent.exists()


@pytest.mark.slow
def test_sigkill_of_a_sweep_benchmark_ends_its_child_search_and_its_workers(tiny_data, sweep_tmp):
    run, out = start_sweep("sweep-mp", tiny_data, sweep_tmp, "--workers", "2")
    wait_for(lambda: sum("spawn_main" in " ".join(cmdline(p)) for p in psutil.Process(run.pid).children(recursive=True))
             >= 2, "the child's pool workers", run, every=0.2)
    family = psutil.Process(run.pid).children(recursive=True)
    run.kill()
    run.wait()
    try:
        wait_until(lambda: not any(map(alive, family)), GONE_WITHIN_S)
        assert [p.pid for p in family if alive(p)] == [] and running(out) == []
    finally:
        for process in family:
            if alive(process):
                process.kill()
        shutil.rmtree(Path(out).parent, ignore_errors=True)  # nothing ran in the killed benchmark to remove it


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
