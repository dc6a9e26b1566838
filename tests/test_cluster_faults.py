"""Faults a shared cluster brings to a search: a second writer, data changed underneath, GPUs handed
out by the scheduler, a full disk, a stop signal, a small open-file limit, a folder where a file
belongs. Each test fails on the code before the fault was handled (README, "Faults")."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines import faults
from pipelines.data.fingerprint import fingerprint, what_changed
from pipelines.data.synth import SynthSpec, build
from pipelines.errors import UserInputError
from pipelines.executors import share
from pipelines.executors.store import ResultStore
from pipelines.folder_lock import LOCK_NAME, FolderBusy, holding
from tests.conftest import HARNESS, LTH_GRID

HOLD = "import sys, time; from pipelines.folder_lock import holding\n" \
       "with holding(sys.argv[1], 'folder', shared=sys.argv[2] == 'shared'):\n" \
       "    print('held', flush=True); time.sleep(60)"


def hold_in_another_process(folder: Path, shared: bool = False) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), "shared" if shared else "exclusive"],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_writer_is_refused_naming_the_holder_and_a_killed_holder_leaves_no_lock(tmp_path):
    holder = hold_in_another_process(tmp_path)
    with pytest.raises(FolderBusy, match=f"pid {holder.pid} on "):
        with holding(tmp_path, "folder"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with holding(tmp_path, "folder"):  # the kernel let go of the dead holder's lock
        assert (tmp_path / LOCK_NAME).is_file()


def test_shard_tasks_share_the_lock_and_together_exclude_a_full_run(tmp_path):
    holder = hold_in_another_process(tmp_path, shared=True)
    try:
        with holding(tmp_path, "folder", shared=True):
            pass
        with pytest.raises(FolderBusy, match="a shard task"):
            with holding(tmp_path, "folder"):
                pass
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def images(tmp_path) -> Path:
    root = tmp_path / "images"
    build(root, SynthSpec(classes=2, train_per_class=3, val_per_class=1, seed=3, odd_every=0))
    return root


def test_the_fingerprint_sees_an_image_rewritten_in_place_and_names_its_folder(images):
    before = fingerprint(images)
    assert fingerprint(images) == before and what_changed(before, before) is None
    victim = sorted((images / "train").glob("*/*"))[0]
    victim.write_bytes(victim.read_bytes() + b"\0")  # other bytes, same name
    change = what_changed(before, fingerprint(images))
    assert change and f"train/{victim.parent.name}" in change and "1 folder" in change


def test_the_fingerprint_of_shards_is_their_manifest_digest(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(UserInputError):  # a damaged manifest is refused as when reading the shards
        fingerprint(tmp_path)


@pytest.mark.parametrize("given, expected", [
    ("5,6", ["5", "6", "5"]),  # indices into the job's devices, never NVML's own numbering
    ("GPU-aaaa,GPU-bbbb", ["GPU-aaaa", "GPU-bbbb", "GPU-aaaa"]),
    ("", [None, None, None]),  # given no GPU: stays on the CPU
    ("3,-1,4", ["3", "3", "3"]),  # CUDA stops at the first invalid entry
])
def test_a_worker_binds_one_of_the_gpus_the_job_was_given(monkeypatch, given, expected):
    monkeypatch.setattr(share, "list_gpus", lambda: [{"index": i} for i in range(8)])
    monkeypatch.setattr(os, "environ", dict(os.environ))  # bind_slot writes the environment: keep it to this test
    seen = []
    for index in range(3):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", given)
        slot = share.bind_slot(index, 3)
        seen.append(slot.gpu)
        assert os.environ["CUDA_VISIBLE_DEVICES"] == (slot.gpu or "")
        assert (slot.threads is None) == (slot.gpu is not None)
    assert seen == expected


def test_without_a_given_list_the_workers_share_the_node_gpus(monkeypatch):
    monkeypatch.setattr(share, "list_gpus", lambda: [{"index": 0}, {"index": 1}])
    monkeypatch.setattr(os, "environ", dict(os.environ))
    seen = []
    for index in range(3):  # each worker is a process of its own, started with the job's environment
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        seen.append(share.bind_slot(index, 3).gpu)
    assert seen == ["0", "1", "0"]


@pytest.fixture
def full_disk(tmp_path) -> Path:
    """A 1 MiB tmpfs, mounted for the test (root may mount; elsewhere the test is skipped)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not allowed here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_checkpoint_on_a_full_disk_raises_naming_it_and_leaves_nothing(full_disk):
    import keras

    from pipelines.train import checkpoints

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(8192)])  # a 2 MiB kernel
    with pytest.raises(OSError) as raised:
        checkpoints.save_checkpoint(model, full_disk / "ck", 0, {})
    line = faults.describe(raised.value)
    assert line.startswith(f"cannot write {full_disk / 'ck' / 'epoch-000.weights.h5'}: No space left on device")
    assert list((full_disk / "ck").iterdir()) == []  # no temporary file, no sidecar naming broken weights


def test_a_job_result_on_a_full_disk_raises_naming_it_and_leaves_nothing(full_disk):
    (full_disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 8192))
    store = ResultStore(full_disk / "jobs")
    with pytest.raises(OSError) as raised:
        store.save({"job_id": "a", "status": "done", "padding": "x" * 100_000})
    assert "jobs/a.json: No space left on device" in faults.describe(raised.value)
    assert list((full_disk / "jobs").iterdir()) == []


def test_a_filesystem_turned_read_only_is_one_line_naming_the_file(full_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(full_disk)], check=True)
    with pytest.raises(OSError) as raised:
        ResultStore(full_disk / "jobs").save({"job_id": "a", "status": "done"})
    assert faults.describe(raised.value) == (f"cannot write {full_disk / 'jobs'}: Read-only file system: choose "
                                             "a folder on a writable filesystem")


@pytest.mark.slow
def test_a_search_on_a_full_disk_exits_1_in_one_line_leaving_no_partial_file(full_disk, tiny_data):
    out = full_disk / "search"
    result = subprocess.run([str(HARNESS), "lth", "--data", str(tiny_data), *LTH_GRID, "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and last[-1].startswith("Error: cannot write ")
    assert "No space left on device: free space there" in last[-1]
    assert not [p for p in out.rglob("*") if p.name.endswith((".tmp", ".partial"))]


def test_a_hard_open_file_limit_too_low_is_one_line_and_a_low_soft_one_is_raised():
    def limited(soft, hard):
        return subprocess.run([str(HARNESS), "variants", "--json"], capture_output=True, text=True, timeout=120,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))

    refused = limited(16, 16)
    assert refused.returncode == 1 and refused.stderr.strip().count("\n") == 0
    assert "open-file limit is 16" in refused.stderr
    raised = limited(16, 4096)
    assert raised.returncode == 0, raised.stderr


@pytest.fixture
def copied_search(lth_search, tiny_data, tmp_path):
    """The shared search and its data, copied (modification times kept) so that a test may change them."""
    out, summary, _ = lth_search
    data, search = tmp_path / "data", tmp_path / "search"
    shutil.copytree(tiny_data, data)
    shutil.copytree(out, search)
    settings = json.loads((search / "run.json").read_text())
    (search / "run.json").write_text(json.dumps({**settings, "data": str(data)}))
    command = [str(HARNESS), "lth", "--data", str(data), *LTH_GRID, "--control", "random", "--out", str(search),
               "--json"]
    return data, search, summary, command


@pytest.mark.slow
def test_data_changed_under_a_search_is_refused_naming_what_changed(copied_search):
    data, search, summary, command = copied_search
    same = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert same.returncode == 0 and json.loads(same.stdout.splitlines()[-1])["tickets"] == summary["tickets"]
    victim = sorted((data / "train").glob("*/*"))[-1]
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))  # regenerated in place
    changed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert changed.returncode == 2 and changed.stderr.strip().count("\n") == 0
    assert "changed since the search" in changed.stderr and f"train/{victim.parent.name}" in changed.stderr


@pytest.mark.slow
def test_a_folder_in_the_place_of_dense_json_is_refused_before_training(copied_search):
    _, search, _, command = copied_search
    (search / "dense.json").unlink()
    (search / "dense.json").mkdir()
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert f"{search / 'dense.json'} is a folder where the dense run writes a file" in result.stderr
    assert not (search / "checkpoints" / "epoch-000.weights.h5").stat().st_mtime > started  # nothing retrained


def start_search(tiny_data, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(HARNESS), "lth", "--data", str(tiny_data), *LTH_GRID, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lock(out: Path, process: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while not ((out / LOCK_NAME).is_file() and (out / LOCK_NAME).stat().st_size):
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.2)


@pytest.mark.slow
def test_two_searches_on_one_folder_one_refused_the_other_as_if_alone(tiny_data, lth_search, tmp_path):
    _, alone, _ = lth_search
    out = tmp_path / "search"
    first = start_search(tiny_data, out, "--control", "random", "--json")
    wait_for_lock(out, first)
    second = subprocess.run([str(HARNESS), "lth", "--data", str(tiny_data), *LTH_GRID, "--control", "random",
                             "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert second.returncode == 2 and second.stderr.strip().count("\n") == 0
    assert f"is in use by pid {first.pid} on " in second.stderr
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    tickets = json.loads(stdout.splitlines()[-1])["tickets"]
    assert [(t["job_id"], t["top1"], t["loss"]) for t in tickets] == \
           [(t["job_id"], t["top1"], t["loss"]) for t in alone["tickets"]]


@pytest.mark.slow
def test_sigterm_during_the_dense_run_stops_the_search_with_the_stop_status_in_one_line(tiny_data, tmp_path):
    out = tmp_path / "search"
    search = start_search(tiny_data, out)
    deadline = time.time() + 300
    while not (out / "checkpoints" / "epoch-000.json").is_file():  # the dense run has begun
        assert search.poll() is None and time.time() < deadline, search.communicate()
        time.sleep(0.2)
    search.send_signal(signal.SIGTERM)
    _, stderr = search.communicate(timeout=120)
    assert search.returncode == 3, stderr
    assert stderr.strip().splitlines()[-1] == ("stopped by SIGTERM: what finished is kept; run the same command "
                                               "again to continue")
    assert "Traceback" not in stderr
    assert all(not p.name.startswith(".") or p.name == LOCK_NAME for p in out.rglob("*"))


STOP_MANGLED = """
import signal, sys, click
from harness import cli
def native_callback():  # as TensorFlow's tracing does: Python called from native code that re-raises its own error
    try:
        signal.raise_signal(signal.SIGTERM)
    except BaseException as error:
        raise TypeError() from None
@cli.cli.command("mangled")
def mangled():
    native_callback()
sys.argv = ["harness", "mangled"]
sys.exit(cli.main())
"""


def test_a_stop_that_native_code_turns_into_another_error_still_stops_with_status_3():
    """SIGTERM during TensorFlow's tracing came out as `SystemError ... TypeError` (exit 1, a traceback):
    a stop signal received makes whatever error follows it the stop it is."""
    result = subprocess.run([sys.executable, "-c", STOP_MANGLED], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == "stopped by SIGTERM: what finished is kept; run the same command again to continue"
