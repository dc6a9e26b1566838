"""Sweep executors for real: a multiprocessing pool, `mpiexec -n 2` from the venv, Elephas on local Spark,
and the rendered SLURM scripts (MPI ranks under srun, a job array) on a real one-node SLURM.

One dense run is shared (conftest.lth_search): its folder (checkpoints, masks) is copied for each
executor, so every executor retrains the same two tickets and their results can be compared with serial's.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from pipelines.lth.masks import load_masks
from slurm_cluster import OneNodeSlurm, SlurmUnavailable
from tests.conftest import HARNESS, LTH_GRID

pytestmark = pytest.mark.slow

GRID = LTH_GRID


def lth(data, out, *extra, check=True):
    command = [str(HARNESS), "lth", "--data", str(data), *GRID, "--out", str(out), "--json", *map(str, extra)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def summary_of(result):
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def serial(lth_search, tiny_data, tmp_path_factory):
    """The shared search's dense run and masks, its two tickets retrained by the serial executor with
    one TensorFlow thread each (the README: tickets are identical across executors at equal --threads)."""
    out = fresh_copy(lth_search[0], tmp_path_factory.mktemp("sweep") / "serial")
    return out, summary_of(lth(tiny_data, out, "--executor", "serial", "--threads", "1"))


def fresh_copy(serial_out, target):
    """The serial search's folder without its job results: dense run and masks kept, tickets to redo."""
    shutil.copytree(serial_out, target, ignore=shutil.ignore_patterns("jobs", "summary.json"))
    return target


def by_job(summary):
    return {row["job_id"]: row for row in summary["tickets"]}


def test_multiprocessing_matches_serial_at_equal_threads(serial, tiny_data, tmp_path):
    serial_out, serial_summary = serial
    out = fresh_copy(serial_out, tmp_path / "multiprocessing")
    result = lth(tiny_data, out, "--executor", "multiprocessing", "--workers", "2", "--threads", "1")
    # the pool's workers load TensorFlow as quietly as the command (CUDA's start-up lines and absl's warnings)
    assert "cuInit" not in result.stderr and "W0000" not in result.stderr, result.stderr
    summary = summary_of(result)
    assert summary["failed"] == []
    got, want = by_job(summary), by_job(serial_summary)
    assert set(got) == set(want) == {"layer-s0.5000-rewind0", "layer-s0.5000-rewind1"}
    for job_id in want:
        assert got[job_id]["threads"] == want[job_id]["threads"] == 1
        assert (got[job_id]["top1"], got[job_id]["top5"], got[job_id]["loss"]) == \
               (want[job_id]["top1"], want[job_id]["top5"], want[job_id]["loss"])  # bit for bit
        assert got[job_id]["masked_nonzero"] == 0
    # each worker process wrote the result of the job it took: two jobs, two workers
    pids = {json.loads(p.read_text())["worker"]["pid"] for p in (out / "jobs").glob("*.json")}
    assert len(pids) == 2


def test_mpi_outside_mpi_relaunches_itself_under_the_venvs_mpiexec(serial, tiny_data, tmp_path):
    """The relaunch plumbing, on a finished search so that no ticket retrains (the MPI executor's
    tickets are compared with serial's under srun below)."""
    serial_out, serial_summary = serial
    out = tmp_path / "mpi"
    shutil.copytree(serial_out, out)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").iterdir()}
    result = lth(tiny_data, out, "--executor", "mpi", "--workers", "2")
    assert summary_of(result)["tickets"] == serial_summary["tickets"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "jobs").iterdir()} == stamps
    assert len(result.stdout.splitlines()) == 1  # one rank, rank 0, printed the summary


def test_elephas_trains_a_ticket_data_parallel_and_keeps_the_mask(serial, tiny_data, tmp_path):
    serial_out, _ = serial
    out = fresh_copy(serial_out, tmp_path / "elephas")
    # one shard of the two tickets (rewind 1, one epoch): Elephas' per-epoch Spark jobs are the slow part
    summary = summary_of(lth(tiny_data, out, "--executor", "elephas", "--workers", "2", "--shard", "1/2"))
    assert summary["failed"] == [] and [row["job_id"] for row in summary["tickets"]] == ["layer-s0.5000-rewind1"]
    row = summary["tickets"][0]
    assert row["masked_nonzero"] == 0 and 0 <= row["top1"] <= 1
    results = [json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")]
    assert {r["masking"] for r in results} == {"constraint"}


def test_a_failing_job_is_recorded_and_named_while_the_others_finish(serial, tiny_data, tmp_path):
    serial_out, _ = serial
    out = fresh_copy(serial_out, tmp_path / "broken")
    h5py.File(out / "checkpoints" / "epoch-001.weights.h5", "w").close()  # reads back, holds no weights
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


def final_weights(folder) -> dict:
    arrays = {}
    with h5py.File(folder / "checkpoints" / "final.weights.h5", "r") as handle:
        handle.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                          else None)
    return arrays


def test_the_dense_run_and_masks_do_not_depend_on_the_executor(lth_search, tiny_data, tmp_path):
    """Under MPI, rank 0 trains the dense network as serial does (all the node's cores), not with its
    one-rank share: the same weights bit for bit, so the same masks and the same tickets."""
    serial_out, serial_summary, _ = lth_search
    out = tmp_path / "mpi-dense"
    result = lth(tiny_data, out, "--sparsity", "0.5", "--scope", "layer", "--executor", "mpi", "--workers", "2",
                 "--prepare-only")
    assert "dense: epoch 2/2" in result.stderr  # the child's progress reaches the person
    mpi_dense = json.loads((out / "dense.json").read_text())
    assert (mpi_dense["loss"], mpi_dense["top1"]) == (serial_summary["dense"]["loss"], serial_summary["dense"]["top1"])
    want, got = final_weights(serial_out), final_weights(out)
    assert want.keys() == got.keys() and all(np.array_equal(want[k], got[k]) for k in want)
    masks = [load_masks(folder / "masks" / "layer-s0.5000.npz") for folder in (serial_out, out)]
    assert all(np.array_equal(masks[0][k], masks[1][k]) for k in masks[0])


def test_damaged_job_results_and_masks_are_redone_on_rerun(serial, tiny_data, tmp_path):
    serial_out, serial_summary = serial
    out = tmp_path / "damaged"
    shutil.copytree(serial_out, out)
    kept = out / "jobs" / "layer-s0.5000-rewind0.json"
    stamp = kept.stat().st_mtime_ns
    (out / "jobs" / "layer-s0.5000-rewind1.json").write_bytes(b"\x00{garbage")
    mask = out / "masks" / "layer-s0.5000.npz"
    original = load_masks(mask)
    mask.write_bytes(mask.read_bytes()[: mask.stat().st_size // 2])
    result = lth(tiny_data, out, "--executor", "serial", "--threads", "1")
    assert f"mask {mask} is damaged" in result.stderr and "layer-s0.5000-rewind1.json is damaged" in result.stderr
    assert (out / "jobs" / "layer-s0.5000-rewind1.json.damaged").read_bytes() == b"\x00{garbage"
    assert kept.stat().st_mtime_ns == stamp  # the readable result is not redone
    rebuilt = load_masks(mask)
    assert all(np.array_equal(rebuilt[k], original[k]) for k in original)
    redone, want = by_job(summary_of(result))["layer-s0.5000-rewind1"], by_job(serial_summary)["layer-s0.5000-rewind1"]
    assert (redone["top1"], redone["loss"]) == (want["top1"], want["loss"])


@pytest.fixture(scope="module")
def cluster():
    try:
        with OneNodeSlurm(cpus=2) as slurm:
            yield slurm
    except SlurmUnavailable as reason:
        pytest.fail(f"SLURM could not be started on this machine: {reason}", pytrace=False)


def render_and_submit(harness_cli, cluster, tiny_data, scratch, kind, *options) -> str:
    """Render `kind` for the shared grid into `scratch` and sbatch it; return the job id."""
    script = scratch / f"{kind}.sbatch"
    rendered = harness_cli("slurm", "render", kind, "--data", tiny_data, *GRID, "--gpus-per-node", "0",
                           "--time", "00:20:00", "--scratch", scratch, "--search", kind, "--out", script, *options)
    assert rendered.returncode == 0, rendered.stderr
    return submit(cluster, script, scratch)


def submit(cluster, script, scratch) -> str:
    submitted = subprocess.run(["sbatch", "--parsable", str(script)], cwd=scratch, env=cluster.env,
                               capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    return submitted.stdout.strip().split(";")[0]


def job_fields(cluster, job) -> dict:
    """`scontrol -o show job` as a dict; for an array, its first task's line."""
    shown = subprocess.run(["scontrol", "-o", "show", "job", job], env=cluster.env, capture_output=True,
                           text=True).stdout.splitlines()
    return dict(word.split("=", 1) for word in (shown[0].split() if shown else ()) if "=" in word)


ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


def wait_for_jobs(cluster, jobs, scratch, on_poll=None, timeout=900) -> dict:
    """Poll every 0.2 s until each job (every task of an array) has ended; its fields by job id.

    Not `sbatch --wait`: it polls less and less often (seconds apart), which the suite pays for each job."""
    deadline, ended = time.time() + timeout, {}
    while len(ended) < len(jobs):
        assert time.time() < deadline, cluster_output(scratch)
        for job in set(jobs) - set(ended):
            fields = job_fields(cluster, job)
            if on_poll:
                on_poll(job, fields)
            states = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=cluster.env, capture_output=True,
                                    text=True).stdout.split()
            if fields.get("JobState") in ENDED and not states:
                ended[job] = fields
        time.sleep(0.2)
    return ended



def test_rendered_mpi_sweep_and_job_array_on_a_real_slurm(serial, harness_cli, cluster, tiny_data, tmp_path):
    serial_out, serial_summary = serial
    want = {job: row["top1"] for job, row in by_job(serial_summary).items()}
    kinds = {"sweep-mpi": ("--nodes", "1", "--tasks-per-node", "2"), "sweep-array": ("--array-tasks", "2")}
    jobs = {}
    for kind, options in kinds.items():  # both queued at once: SLURM starts the second as the first ends
        fresh_copy(serial_out, tmp_path / kind)  # prepared: the dense run and masks, no tickets
        jobs[kind] = render_and_submit(harness_cli, cluster, tiny_data, tmp_path, kind, *options)
    ended = wait_for_jobs(cluster, list(jobs.values()), tmp_path)
    for kind, job in jobs.items():
        assert ended[job]["JobState"] == "COMPLETED", (kind, cluster_output(tmp_path))
        results = [json.loads(p.read_text()) for p in (tmp_path / kind / "jobs").glob("*.json")]
        assert {r["job_id"]: r["top1"] for r in results} == want, kind  # the same tickets as serial
        assert all(r["masked_nonzero"] == 0 for r in results)
        assert len({r["worker"]["pid"] for r in results}) == 2, kind  # two ranks, or two array tasks
    assert ended[jobs["sweep-mpi"]]["NumTasks"] == "2"


LONG_TICKET = ("--workload", "lenet-smoke", "--epochs", "16", "--rewind", "0", "--sparsity", "0.5", "--scope", "layer")


def test_a_job_warned_before_its_time_limit_saves_requeues_itself_and_ends_as_if_never_stopped(cluster, harness_cli,
                                                                                               tiny_data, tmp_path):
    """SLURM's warning (`--signal=B:USR1@...`: USR1 to the batch shell, sent here at once with
    `scancel --batch --signal=USR1`, as SLURM's timer sends it) stops the job's `harness lth` inside its
    ticket (64 steps); the job requeues itself and its second run continues the ticket to the result
    an uninterrupted run has. SLURM holds a requeued job back for a while; the test releases it sooner."""
    prepared = tmp_path / "prepared"
    done = subprocess.run([str(HARNESS), "lth", "--data", str(tiny_data), *LONG_TICKET, "--out", str(prepared),
                           "--prepare-only"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    warned, alone = fresh_copy(prepared, tmp_path / "warned"), fresh_copy(prepared, tmp_path / "alone")
    uninterrupted = subprocess.Popen([str(HARNESS), "lth", "--data", str(tiny_data), *LONG_TICKET, "--out", str(alone),
                                      "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    script = tmp_path / "job.sbatch"
    rendered = harness_cli("slurm", "render", "sweep-array", "--data", tiny_data, *LONG_TICKET, "--gpus-per-node", "0",
                           "--array-tasks", "1", "--scratch", tmp_path,
                           "--search", "warned", "--out", script)
    assert rendered.returncode == 0, rendered.stderr
    job = submit(cluster, script, tmp_path)
    ticket, warned_once, released = warned / "jobs" / "layer-s0.5000-rewind0.json", False, 0

    def warn_then_release(job, fields):
        nonlocal warned_once, released
        state, restarts = fields.get("JobState"), int(fields.get("Restarts", 0))
        if not warned_once and state == "RUNNING" and list((warned / "resume").glob("*/state-*.npz")):
            subprocess.run(["scancel", "--batch", "--signal=USR1", job], env=cluster.env, check=True)
            warned_once = True
        if restarts > released and state == "PENDING":
            # requeued: begin in 3 s rather than after SLURM's requeue delay (slurmd refuses the job's
            # credential for a second or so after the requeue revoked it: "Job credential revoked")
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now+3"], env=cluster.env, check=True)
            released = restarts

    fields = wait_for_jobs(cluster, [job], tmp_path, on_poll=warn_then_release, timeout=600)[job]
    restarts = int(fields.get("Restarts", 0))
    assert fields["JobState"] == "COMPLETED", cluster_output(tmp_path)
    assert restarts == 1 and "requeueing job" in cluster_output(tmp_path)
    got = json.loads(ticket.read_bytes())
    [resume] = got["resumes"]
    assert resume["step"] > 0 and resume["redone_steps"] == 0
    out, err = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, err
    [want] = json.loads(out.splitlines()[-1])["tickets"]
    assert (got["top1"], got["loss"]) == (want["top1"], want["loss"])


def cluster_output(folder) -> str:
    return "\n".join(path.read_text(errors="replace") for path in folder.glob("*.out"))
