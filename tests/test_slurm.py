"""SLURM job scripts: every template renders to a script bash accepts, with the resources asked for.

The rendered sweeps run on a real one-node SLURM in test_sweep.py, where they reuse the serial
sweep's prepared search and compare their tickets with it.
"""

import re
import subprocess

import pytest

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
