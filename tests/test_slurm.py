"""SLURM job scripts: every template renders to a script bash accepts, with the resources asked for,
whose `harness lth` runs the very search `slurm render` was given, and no value given to `slurm render`
can add a line, a directive or a command to it.

The rendered sweeps run on a real one-node SLURM in test_sweep.py, where they reuse the serial
sweep's prepared search and compare their tickets with it.
"""

import itertools
import os
import re
import stat
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import HARNESS

import harness.cli.lth as lth_command
from harness.cli import cli
from harness.cli.lth import lth_arguments
from harness.slurm import JobOptions, render
from pipelines.errors import UserInputError
from pipelines.lth.config import LthConfig

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
    (["sweep-mpi", "--lr", "-1"], "--lr"),
    (["sweep-mpi", "--lr-schedule", "step"], "--milestones"),
    (["sweep-mpi", "--retrain", "weight,weight"], "--retrain"),
    (["sweep-mpi", "--sparsity-over", "rest"], "--keep-dense"),
    (["sweep-mpi", "--gpus-per-node", "0", "--precision", "mixed_float16"], "--precision"),
    (["spark-cluster", "--rewind", "0,500it"], "whole epochs"),  # its Elephas sweep
])
def test_bad_options_exit_2_with_one_line(harness_cli, args, message):
    result = harness_cli("slurm", "render", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# --- the search: the script's `harness lth` builds the very LthConfig that `slurm render` built ---

SEARCH_ARGS = ("--workload", "smoke", "--epochs", "4", "--retrain", "weight,lr", "--replicates", "3", "--stability",
               "--keep-dense", "depthwise,stem", "--sparsity-over", "rest", "--sparsity", "0.5,0.8", "--scope", "layer",
               "--seed", "7", "--control", "random", "--pipeline", "naive", "--masking", "constraint",
               "--lr", "0.05", "--lr-schedule", "step", "--milestones", "2", "--gamma", "0.5", "--lr-warmup", "10it",
               "--weight-decay", "1e-4", "--label-smoothing", "0.1", "--batch", "8")


class Built(Exception):
    """Stops `harness lth` right after it has built its search: nothing is read or trained."""


def searches_built(monkeypatch, stop: bool = False) -> list[LthConfig]:
    """Every LthConfig harness.cli.lth.search_config builds from now on (`stop`: then raises Built)."""
    built, build = [], lth_command.search_config

    def record(*args, **kwargs):
        built.append(build(*args, **kwargs))
        if stop:
            raise Built
        return built[-1]

    monkeypatch.setattr(lth_command, "search_config", record)
    return built


@pytest.mark.parametrize("kind", KINDS)
def test_the_scripts_harness_lth_builds_the_search_render_built(kind, tmp_path, monkeypatch):
    rewinds = "0,2ep" if kind == "spark-cluster" else "0,500it,2ep"  # spark-cluster's Elephas trains whole epochs
    rendered = searches_built(monkeypatch)
    result = CliRunner().invoke(cli, ["slurm", "render", kind, "--data", str(tmp_path / "data"), "--rewind", rewinds,
                                      *SEARCH_ARGS])
    assert result.exit_code == 0, result.output
    [built] = rendered
    commands = [words[words.index(str(HARNESS)) + 2:] for words in shell_commands(result.output, tmp_path)[1:]
                if words[words.index(str(HARNESS)) + 1] == "lth"]
    assert commands  # the spark-cluster's too, commented
    for words in commands:
        parsed = searches_built(monkeypatch, stop=True)
        assert isinstance(CliRunner().invoke(cli, ["lth", *words]).exception, Built), words
        [config] = parsed
        assert config.out == str(tmp_path.resolve() / "scratch/lth-harness/search")
        assert config.fit.name == built.fit.name  # out and fit: where and how the script runs the search
        assert replace(config, out=built.out, fit=built.fit) == built
        assert config.identity() == built.identity() and config.recipe == built.recipe is not None
        assert (config.retrain, config.replicates, config.stability) == (("weight", "lr"), 3, True) and config.control
        assert config.points == built.points and built.rewinds == tuple(rewinds.split(","))
        assert config.recipe.learning_rate == 0.05 and config.recipe.milestones == (2,)


def render_in_process(monkeypatch, *args: str) -> tuple[str, LthConfig]:
    """`harness slurm render ARGS` in this process: the script, and the search it built."""
    built = searches_built(monkeypatch)
    result = CliRunner().invoke(cli, ["slurm", "render", *args])
    assert result.exit_code == 0, result.output
    return result.output, built[0]


def test_only_what_differs_from_the_defaults_is_written(tmp_path, monkeypatch):
    data = tmp_path.resolve()
    text, _ = render_in_process(monkeypatch, "sweep-array", "--data", str(data))
    assert [line for line in text.splitlines() if " lth " in line] == [
        f'requeueable "$HARNESS" lth --data {data} --device gpu1 --out "$OUT" \\']
    text, config = render_in_process(monkeypatch, "sweep-array", "--data", str(data), "--workload", "smoke",
                                     "--lr", "0.01", "--lr-schedule", "cosine", "--rewind", "0,1,2",
                                     "--retrain", "weight")  # smoke's own recipe, and the defaults
    assert f'lth --data {data} --workload smoke --device gpu1 --out' in text and config.recipe is None
    text, _ = render_in_process(monkeypatch, "sweep-mpi", "--threshold", "0.01,0.02", "--backend", "jax")
    assert "--threshold 0.01,0.02 --backend jax --device gpu1" in text and "--sparsity" not in text


def test_a_bad_search_value_exits_2_in_one_line_before_the_script_is_written(harness_cli, tmp_path):
    path = tmp_path / "job.sbatch"
    for bad, option in [(("--lr-schedule", "linear"), "--lr-schedule"), (("--rewind", "0,x"), "--rewind"),
                        (("--keep-dense", "stem,bogus"), "bogus"), (("--replicates", "0"), "--replicates")]:
        result = harness_cli("slurm", "render", "sweep-array", "--workload", "smoke", *bad, "--out", path)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert option in result.stderr and "Traceback" not in result.stderr and not path.exists()


# --- hostile values: each is refused in one line naming its option, or lands in the script as an inert literal ---

SEARCH = {"data": "data/default", "workload": "smoke", "epochs": 4, "rewinds": (0, 1, 2), "sparsities": (0.5, 0.8),
          "scope": "global", "seed": 0, "retrain": ("weight",), "replicates": 1, "model": None}
TEXT_OPTIONS = {"job_name": "--job-name", "partition": "--partition", "account": "--account", "time": "--time",
                "scratch": "--scratch", "search": "--search", "data": "--data", "workload": "--workload",
                "scope": "--scope", "model": "--model"}
COUNT_OPTIONS = {"nodes": "--nodes", "gpus_per_node": "--gpus-per-node", "tasks_per_node": "--tasks-per-node",
                 "cpus_per_task": "--cpus-per-task", "array_tasks": "--array-tasks",
                 "max_concurrent": "--max-concurrent", "spark_port": "--spark-port", "epochs": "--epochs",
                 "seed": "--seed", "replicates": "--replicates"}
HOSTILE = ["x\ntouch {marker}", "x\rtouch {marker}", "x\ttab", "x\x00nul", "x\x1b[2J", "x\x7fdel", "x\x85nel",
           "$(touch {marker})", "`touch {marker}`", "x;touch {marker}", "x' \"y", "x y", "#x", "x%j", "a/b", "x\\",
           "${{X:-$(touch {marker})}}", "--x=1"]
SBATCH_LINE = re.compile(r"#SBATCH --[a-z-]+(=[A-Za-z0-9._+,:%@-]+)?")


def script(kind: str, **values) -> str:
    """The script for `kind` with `values` in place of the defaults, SEARCH's keys (LthConfig fields)
    included: the search as `harness lth` holds it (its data an absolute path), through lth_arguments."""
    search = {**SEARCH, **{key: values.pop(key) for key in list(values) if key in SEARCH}}
    config = LthConfig(**{**search, "data": str(Path(search["data"]).absolute())}, out="$OUT")
    return render(JobOptions(kind=kind, **values), config, lth_arguments(config))


def assert_structure(text: str, benign: str) -> None:
    """The benign script's lines, a header of one directive a line up to --output, and bash accepts it."""
    lines = text.splitlines()
    assert len(lines) == len(benign.splitlines())  # no value started a line of its own, in a comment either
    header = lines[2:lines.index("set -euo pipefail")]
    assert all(SBATCH_LINE.fullmatch(line) for line in header if line), header
    assert "#SBATCH --output=%x-%j.out" in header  # nothing ended the header early
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def shell_commands(text: str, tmp_path: Path) -> list[list[str]]:
    """[$OUT], then the words of each "$HARNESS" command (the commented one too) as bash makes them on a
    node ($SCRATCH and $HOME under tmp_path), by `set --` instead of running the commands."""
    lines = text.splitlines()
    out = next(i for i, line in enumerate(lines) if line.startswith("OUT="))
    program = [*lines[lines.index("set -euo pipefail"):out + 1], "MASTER=spark://m:7077 SLURM_ARRAY_TASK_ID=0",
               "printf '%s\\0' \"$OUT\""]
    for i, line in enumerate(lines):
        if '"$HARNESS" ' in line:
            command = line.removeprefix("# ") + ("\n" + lines[i + 1] if line.endswith("\\") else "")
            program += ["set -- " + command, "printf '\\036'", "printf '%s\\0' \"$@\""]  # \036: between commands
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SCRATCH": str(tmp_path / "scratch")}
    shown = subprocess.run(["bash", "-c", "\n".join(program)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    return [command.split("\0")[:-1] for command in shown.stdout.split("\036")]


def assert_refused(option: str, kind: str, **values) -> None:
    with pytest.raises(UserInputError) as refused:
        script(kind, **values)
    assert option in str(refused.value) and not re.search(r"[\n\r]", str(refused.value)), str(refused.value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_value_is_refused_or_stays_a_literal(kind, tmp_path):
    marker = tmp_path / "MARKER"
    benign = script(kind)
    literal = {  # where each value that may hold any printable character lands, as bash expands it
        "scratch": lambda value, commands: commands[0] == [f"{value}/search"],
        "search": lambda value, commands: commands[0] == [f"{tmp_path}/scratch/lth-harness/{value}"],
        "data": lambda value, commands: all(str(Path(value).absolute()) in words for words in commands[1:]),
        "model": lambda value, commands: all(words[words.index("--model") + 1] == value
                                             for words in commands[1:] if "lth" in words),
    }
    for name, hostile in itertools.product(TEXT_OPTIONS, HOSTILE):
        value = hostile.format(marker=marker)
        try:
            text = script(kind, **{name: value})
        except UserInputError as error:
            named = TEXT_OPTIONS[name].lstrip("-")  # "--workload", or "unknown workload" from the shared check
            assert named in str(error) and not re.search(r"[\n\r]", str(error)), (value, str(error))
            continue
        assert name in literal, f"{name}={value!r} was rendered"
        assert_structure(text, benign)
        assert literal[name](value, shell_commands(text, tmp_path)), (name, value)
    assert not marker.exists()


@pytest.mark.parametrize("name", COUNT_OPTIONS)
def test_a_count_that_is_not_a_whole_number_is_refused(name):
    for value in ("1\n#SBATCH --x", "$(touch x)", 1.5, True, *([-1] if name != "seed" else [])):
        assert_refused(COUNT_OPTIONS[name], "sweep-array", **{name: value})


@pytest.mark.parametrize("name, option, values", [
    ("rewinds", "--rewind", [("0\n#x",), (0, "1;touch x"), (0, 1.5), (0, 9)]),
    ("sparsities", "--sparsity", [("0.5$(touch x)",), (float("nan"),), (1.5,), ()]),
    ("retrain", "retrain", [("weight\n#x",), ("weight", "weight"), ("weight", "lr;touch x")]),  # retraining mode
])
def test_a_grid_list_of_other_than_numbers_in_range_is_refused(name, option, values):
    for value in values:
        assert_refused(option, "sweep-mpi", **{name: value})


def test_sbatch_values_keep_to_one_plain_word(tmp_path):
    accepted = {"job_name": "lth.run_1+x", "account": "proj-01", "partition": "gpu,debug", "time": "1-12:30:00"}
    text = script("sweep-mpi", **accepted)
    assert_structure(text, script("sweep-mpi", partition="p", account="a"))
    assert all(f"={value}\n" in text for value in accepted.values())
    for time_limit in ("90", "90:30", "12:00:00", "2-12", "2-12:30", "unlimited", "INFINITE"):
        assert f"#SBATCH --time={time_limit}\n" in script("train-4gpu", time=time_limit)
    for name, value in [("job_name", "a b"), ("job_name", "x#y"), ("account", "a'b"), ("partition", "gpu,,cpu"),
                        ("partition", "gpu --qos=high"), ("time", "12:00:00 --qos=high"), ("time", "1-"),
                        ("time", "١٢:٠٠")]:  # Arabic-Indic digits: not the ASCII sbatch reads
        assert_refused(TEXT_OPTIONS[name], "sweep-mpi", **{name: value})


def test_scratch_reads_variables_but_runs_nothing(tmp_path):
    marker = tmp_path / "MARKER"
    for scratch, expanded in [("${SCRATCH:-$HOME}/lth-harness", f"{tmp_path}/scratch/lth-harness"),
                              ("$HOME/a b;c'd", f"{tmp_path}/a b;c'd"), ("${NOPE:-${HOME}/x}", f"{tmp_path}/x"),
                              ("${NOPE-/lit}", "/lit"), (str(tmp_path), str(tmp_path))]:
        assert shell_commands(script("sweep-array", scratch=scratch), tmp_path)[0] == [f"{expanded}/search"]
    for scratch in ["$(touch {marker})", "`touch {marker}`", "$((1+1))", "${{HOME}}}}", "${{X:-a", "$1", "$$",
                    "${{!HOME}}", "${{HOME[$(touch {marker})]}}", "${{X:=y}}", "a\\b", "{{a}}", "", 'a"b']:
        assert_refused("--scratch", "sweep-array", scratch=scratch.format(marker=marker))
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


STOPPABLE = """import signal, sys, time
signal.signal(signal.SIGUSR1, lambda *_: sys.exit(3))  # as `harness lth` does: save, then exit 3
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
print("started", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("signal_name, requeued", [("USR1", True), ("TERM", False)])
def test_the_warning_signal_is_passed_to_the_command_and_the_stopped_job_requeues_itself(tmp_path, signal_name,
                                                                                        requeued):
    """SLURM's warning (USR1, to the batch shell) reaches the command, and a command that stopped
    (exit 3) has the job requeued; a SIGTERM (scancel, the time limit) does not requeue it."""
    text = script("sweep-array", gpus_per_node=0)
    assert "#SBATCH --signal=B:USR1@120" in text and "#SBATCH --requeue" in text and "--grace 60" in text
    lines = text.splitlines()
    function = lines[lines.index("requeueable() {"):lines.index("}", lines.index("requeueable() {")) + 1]
    (tmp_path / "scontrol").write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "asked"}\n')
    (tmp_path / "scontrol").chmod(0o755)
    (tmp_path / "command.py").write_text(STOPPABLE)
    program = "\n".join(["set -euo pipefail", *function, f"requeueable {sys.executable} {tmp_path / 'command.py'}"])
    environment = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "SLURM_JOB_ID": "41"}
    job = subprocess.Popen(["bash", "-c", program], stdout=subprocess.PIPE, text=True, env=environment)
    assert job.stdout.readline() == "started\n"
    job.send_signal(getattr(signal, f"SIG{signal_name}"))
    if signal_name == "TERM":  # SLURM signals every process of the job, the command too
        subprocess.run(["pkill", "-TERM", "-f", str(tmp_path / "command.py")])
    assert job.wait(timeout=30) == 3
    assert (tmp_path / "asked").exists() == requeued
    assert not requeued or (tmp_path / "asked").read_text() == "requeue 41\n"
