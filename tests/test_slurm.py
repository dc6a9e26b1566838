"""SLURM job scripts: every template renders to a script bash accepts, with the resources asked for,
and no value given to `slurm render` can add a line, a directive or a command to it.

The rendered sweeps run on a real one-node SLURM in test_sweep.py, where they reuse the serial
sweep's prepared search and compare their tickets with it.
"""

import itertools
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import HARNESS

from harness.slurm import JobOptions, render
from pipelines.errors import UserInputError

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
    (["sweep-mpi", "--scratch", 'a"b'], "--scratch 'a\"b' is not a folder expression"),
    (["sweep-mpi", "--workload", "huge"], "huge"),
])
def test_bad_options_exit_2_with_one_line(harness_cli, args, message):
    result = harness_cli("slurm", "render", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# --- hostile values: each is refused in one line naming its option, or lands in the script as an inert literal ---

LTH = {"data": "data/default", "workload": "smoke", "epochs": 4, "rewinds": (0, 1, 2), "sparsities": (0.5, 0.8),
       "scope": "global", "seed": 0}
TEXT_OPTIONS = {"job_name": "--job-name", "partition": "--partition", "account": "--account", "time": "--time",
                "scratch": "--scratch", "search": "--search", "data": "--data", "workload": "--workload",
                "scope": "--scope"}
COUNT_OPTIONS = {"nodes": "--nodes", "gpus_per_node": "--gpus-per-node", "tasks_per_node": "--tasks-per-node",
                 "cpus_per_task": "--cpus-per-task", "array_tasks": "--array-tasks",
                 "max_concurrent": "--max-concurrent", "spark_port": "--spark-port", "epochs": "--epochs",
                 "seed": "--seed"}
HOSTILE = ["x\ntouch {marker}", "x\rtouch {marker}", "x\ttab", "x\x00nul", "x\x1b[2J", "x\x7fdel", "x\x85nel",
           "$(touch {marker})", "`touch {marker}`", "x;touch {marker}", "x' \"y", "x y", "#x", "x%j", "a/b", "x\\",
           "${{X:-$(touch {marker})}}", "--x=1"]
SBATCH_LINE = re.compile(r"#SBATCH --[a-z-]+(=[A-Za-z0-9._+,:%-]+)?")


def job(kind: str, **values) -> JobOptions:
    """JobOptions for `kind` with `values` in place of the defaults, the LTH grid's keys included."""
    lth = {**LTH, **{key: values.pop(key) for key in list(values) if key in LTH}}
    return JobOptions(kind=kind, lth=lth, **values)


def assert_structure(text: str, benign: str) -> None:
    """The benign script's lines, a header of one directive a line up to --output, and bash accepts it."""
    lines = text.splitlines()
    assert len(lines) == len(benign.splitlines())  # no value started a line of its own, in a comment either
    header = lines[2:lines.index("set -euo pipefail")]
    assert all(SBATCH_LINE.fullmatch(line) for line in header if line), header
    assert "#SBATCH --output=%x-%j.out" in header  # nothing ended the header early
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def shell_words(text: str, tmp_path: Path) -> list[str]:
    """$OUT and the words of each "$HARNESS" command (the commented one too) as bash makes them on a node
    ($SCRATCH and $HOME under tmp_path), by `set --` instead of running the commands."""
    lines = text.splitlines()
    out = next(i for i, line in enumerate(lines) if line.startswith("OUT="))
    program = [*lines[lines.index("set -euo pipefail"):out + 1], "MASTER=spark://m:7077 SLURM_ARRAY_TASK_ID=0",
               "printf '%s\\0' \"$OUT\""]
    for i, line in enumerate(lines):
        if '"$HARNESS" ' in line:
            command = line.removeprefix("# ") + ("\n" + lines[i + 1] if line.endswith("\\") else "")
            program += ["set -- " + command, "printf '%s\\0' \"$@\""]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SCRATCH": str(tmp_path / "scratch")}
    shown = subprocess.run(["bash", "-c", "\n".join(program)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.split("\0")


def assert_refused(options: JobOptions, option: str) -> None:
    with pytest.raises(UserInputError) as refused:
        render(options)
    assert option in str(refused.value) and not re.search(r"[\n\r]", str(refused.value)), str(refused.value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_value_is_refused_or_stays_a_literal(kind, tmp_path):
    marker = tmp_path / "MARKER"
    benign = render(job(kind))
    literal = {  # where each value that may hold any printable character lands, as bash expands it
        "scratch": lambda value, words: words[0] == f"{value}/search",
        "search": lambda value, words: words[0] == f"{tmp_path}/scratch/lth-harness/{value}",
        "data": lambda value, words: str(Path(value).resolve()) in words[1:],
    }
    for name, hostile in itertools.product(TEXT_OPTIONS, HOSTILE):
        value = hostile.format(marker=marker)
        try:
            text = render(job(kind, **{name: value}))
        except UserInputError as error:
            named = TEXT_OPTIONS[name].lstrip("-")  # "--workload", or "unknown workload" from the shared check
            assert named in str(error) and not re.search(r"[\n\r]", str(error)), (value, str(error))
            continue
        assert name in literal, f"{name}={value!r} was rendered"
        assert_structure(text, benign)
        assert literal[name](value, shell_words(text, tmp_path)), (name, value)
    assert not marker.exists()


@pytest.mark.parametrize("name", COUNT_OPTIONS)
def test_a_count_that_is_not_a_whole_number_is_refused(name):
    for value in ("1\n#SBATCH --x", "$(touch x)", 1.5, True, *([-1] if name != "seed" else [])):
        assert_refused(job("sweep-array", **{name: value}), COUNT_OPTIONS[name])


@pytest.mark.parametrize("name, option, values", [
    ("rewinds", "--rewind", [("0\n#x",), (0, "1;touch x"), (0, 1.5), (0, 9)]),
    ("sparsities", "--sparsity", [("0.5$(touch x)",), (float("nan"),), (1.5,), ()]),
])
def test_a_grid_list_of_other_than_numbers_in_range_is_refused(name, option, values):
    for value in values:
        assert_refused(job("sweep-mpi", **{name: value}), option)


def test_sbatch_values_keep_to_one_plain_word(tmp_path):
    accepted = {"job_name": "lth.run_1+x", "account": "proj-01", "partition": "gpu,debug", "time": "1-12:30:00"}
    text = render(job("sweep-mpi", **accepted))
    assert_structure(text, render(job("sweep-mpi", partition="p", account="a")))
    assert all(f"={value}\n" in text for value in accepted.values())
    for time_limit in ("90", "90:30", "12:00:00", "2-12", "2-12:30", "unlimited", "INFINITE"):
        assert f"#SBATCH --time={time_limit}\n" in render(job("train-4gpu", time=time_limit))
    for name, value in [("job_name", "a b"), ("job_name", "x#y"), ("account", "a'b"), ("partition", "gpu,,cpu"),
                        ("partition", "gpu --qos=high"), ("time", "12:00:00 --qos=high"), ("time", "1-"),
                        ("time", "١٢:٠٠")]:  # Arabic-Indic digits: not the ASCII sbatch reads
        assert_refused(job("sweep-mpi", **{name: value}), TEXT_OPTIONS[name])


def test_scratch_reads_variables_but_runs_nothing(tmp_path):
    marker = tmp_path / "MARKER"
    for scratch, expanded in [("${SCRATCH:-$HOME}/lth-harness", f"{tmp_path}/scratch/lth-harness"),
                              ("$HOME/a b;c'd", f"{tmp_path}/a b;c'd"), ("${NOPE:-${HOME}/x}", f"{tmp_path}/x"),
                              ("${NOPE-/lit}", "/lit"), (str(tmp_path), str(tmp_path))]:
        assert shell_words(render(job("sweep-array", scratch=scratch)), tmp_path)[0] == f"{expanded}/search"
    for scratch in ["$(touch {marker})", "`touch {marker}`", "$((1+1))", "${{HOME}}}}", "${{X:-a", "$1", "$$",
                    "${{!HOME}}", "${{HOME[$(touch {marker})]}}", "${{X:=y}}", "a\\b", "{{a}}", "", 'a"b']:
        assert_refused(job("sweep-array", scratch=scratch.format(marker=marker)), "--scratch")
    assert not marker.exists()


@pytest.mark.parametrize("kind, option, value", [
    ("sweep-mpi", "--job-name", "x\ntouch {marker}"),
    ("sweep-array", "--partition", "gpu;touch {marker}"),
    ("train-4gpu", "--time", "1:00:00 --qos=high"),
    ("spark-cluster", "--scratch", "$(touch {marker})"),
])
def test_a_hostile_value_exits_2_with_one_line(harness_cli, tmp_path, kind, option, value):
    result = harness_cli("slurm", "render", kind, option, value.format(marker=tmp_path / "MARKER"))
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 and option in result.stderr


# --- --out: an existing file is replaced only with --force, and keeps its mode; a path that cannot be a file is refused ---

def test_an_existing_out_file_is_replaced_only_with_force_and_keeps_its_mode(harness_cli, tmp_path):
    script = tmp_path / "job.sbatch"
    script.write_text("mine\n")
    script.chmod(0o640)
    refused = harness_cli("slurm", "render", "sweep-mpi", "--out", script)
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1 and "--force" in refused.stderr
    assert script.read_text() == "mine\n" and stat.S_IMODE(script.stat().st_mode) == 0o640
    replaced = harness_cli("slurm", "render", "sweep-mpi", "--out", script, "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert script.read_text().startswith("#!/bin/bash\n") and stat.S_IMODE(script.stat().st_mode) == 0o640


def test_a_new_out_file_is_executable_as_the_umask_allows(tmp_path):
    script = tmp_path / "job.sbatch"
    result = subprocess.run(["sh", "-c", 'umask 077 && exec "$0" slurm render sweep-array --out "$1"', HARNESS, script],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(script.stat().st_mode) == 0o700  # 0755 less the umask 077


def test_an_out_path_that_cannot_be_a_file_exits_2_before_rendering(harness_cli, tmp_path):
    (tmp_path / "file").write_text("")
    for out in (tmp_path, tmp_path / "file" / "job.sbatch", Path("/proc/job.sbatch")):
        result = harness_cli("slurm", "render", "sweep-mpi", "--out", out, "--job-name", "bad name")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1 and f"--out {out}" in result.stderr  # not the job name: first
