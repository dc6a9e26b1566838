"""SLURM job scripts: rendered, read by bash, and the MPI sweep and the array run on a real one-node SLURM."""

import json
import re
import shutil
import subprocess

import pytest

from slurm_cluster import OneNodeSlurm, SlurmUnavailable

KINDS = ["train-4gpu", "sweep-mpi", "spark-cluster", "sweep-array"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders_to_a_script_bash_accepts(harness_cli, tmp_path, kind):
    script = tmp_path / f"{kind}.sbatch"
    result = harness_cli("slurm", "render", kind, "--partition", "gpu", "--account", "lth", "--out", script)
    assert result.returncode == 0, result.stderr
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n") and "#SBATCH --partition=gpu" in text and "#SBATCH --account=lth" in text
    assert subprocess.run(["bash", "-n", script]).returncode == 0
    assert "{{" not in text and "{%" not in text


def test_rendered_resources_follow_the_options(harness_cli):
    def render(*args):
        result = harness_cli("slurm", "render", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    sweep = render("sweep-mpi", "--nodes", "20", "--gpus-per-node", "4", "--time", "12:00:00")
    assert "#SBATCH --nodes=20\n#SBATCH --ntasks-per-node=4\n#SBATCH --gpus-per-node=4" in sweep
    assert "#SBATCH --time=12:00:00" in sweep and "80 MPI ranks" in sweep
    assert re.search(r"srun --mpi=pmi2 \S+ lth .* --device gpu1 --executor mpi", sweep)
    assert "--device gpu4" in render("train-4gpu") and "--prepare-only" in render("train-4gpu")
    cpu = render("sweep-mpi", "--gpus-per-node", "0", "--nodes", "2")
    assert "gpus" not in cpu and "#SBATCH --ntasks-per-node=1" in cpu and "--device cpu" in cpu
    array = render("sweep-array", "--array-tasks", "100", "--max-concurrent", "80")
    assert "#SBATCH --array=0-99%80" in array and '--shard "$SLURM_ARRAY_TASK_ID/100"' in array
    spark = render("spark-cluster", "--nodes", "3", "--workload", "smoke")
    assert "#SBATCH --nodes=3" in spark and "--engine spark --spark-master \"$MASTER\"" in spark and "--size 32" in spark


@pytest.mark.parametrize("args, message", [
    (["sweep-mpi", "--nodes", "0"], "--nodes must be at least 1"),
    (["train-4gpu", "--gpus-per-node", "2"], "train-4gpu trains on 4 GPUs"),
    (["sweep-mpi", "--scratch", 'a"b'], "may not contain double quotes"),
    (["sweep-mpi", "--workload", "huge"], "huge"),
])
def test_bad_options_exit_2_with_one_line(harness_cli, args, message):
    result = harness_cli("slurm", "render", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def cluster():
    try:
        with OneNodeSlurm(cpus=2) as slurm:
            yield slurm
    except SlurmUnavailable as reason:
        pytest.fail(f"SLURM could not be started on this machine: {reason}", pytrace=False)


def submit(cluster, script, *args) -> str:
    """sbatch the script from its folder, wait for it, and return the job id."""
    done = subprocess.run(["sbatch", "--parsable", "--wait", *args, str(script)], cwd=script.parent,
                          env=cluster.env, capture_output=True, text=True, timeout=900)
    job = done.stdout.strip().split(";")[0]
    output = next(script.parent.glob(f"*-{job}*.out"), None)
    assert done.returncode == 0, f"{done.stderr}\n{output.read_text() if output else 'no job output'}"
    return job


def grid(tiny_data, scratch):
    return ["--data", str(tiny_data), "--workload", "smoke", "--epochs", "2", "--rewind", "0,1",
            "--sparsity", "0.8", "--scope", "layer", "--scratch", str(scratch), "--gpus-per-node", "0",
            "--time", "00:20:00"]


@pytest.mark.slow
def test_mpi_sweep_then_job_array_on_a_real_slurm(harness_cli, cluster, tiny_data, tmp_path):
    scratch = tmp_path / "scratch"
    script = tmp_path / "sweep-mpi.sbatch"
    rendered = harness_cli("slurm", "render", "sweep-mpi", "--nodes", "1", "--tasks-per-node", "2",
                           *grid(tiny_data, scratch), "--search", "mpi", "--out", script)
    assert rendered.returncode == 0, rendered.stderr
    job = submit(cluster, script)
    shown = subprocess.run(["scontrol", "show", "job", job], env=cluster.env, capture_output=True, text=True).stdout
    assert "NumTasks=2" in shown and "JobState=COMPLETED" in shown
    summary = json.loads((scratch / "mpi" / "summary.json").read_text())
    assert len(summary["tickets"]) == 2 and summary["failed"] == []
    results = [json.loads(p.read_text()) for p in (scratch / "mpi" / "jobs").glob("*.json")]
    assert all(r["status"] == "done" and r["masked_nonzero"] == 0 for r in results)
    assert len({r["worker"]["pid"] for r in results}) == 2  # both ranks trained tickets

    # The array form from the same prepared search (its dense run and masks, no tickets): 2 tasks, a ticket each.
    shutil.copytree(scratch / "mpi", scratch / "array", ignore=shutil.ignore_patterns("jobs", "summary.json"))
    script = tmp_path / "sweep-array.sbatch"
    rendered = harness_cli("slurm", "render", "sweep-array", "--array-tasks", "2", *grid(tiny_data, scratch),
                           "--search", "array", "--out", script)
    assert rendered.returncode == 0, rendered.stderr
    submit(cluster, script)
    results = [json.loads(p.read_text()) for p in (scratch / "array" / "jobs").glob("*.json")]
    assert sorted(r["job_id"] for r in results) == sorted(t["job_id"] for t in summary["tickets"])
    assert len({r["worker"]["pid"] for r in results}) == 2  # one process per array task
    by_job = {t["job_id"]: t["top1"] for t in summary["tickets"]}
    assert {r["job_id"]: r["top1"] for r in results} == pytest.approx(by_job)  # same tickets, same accuracy
