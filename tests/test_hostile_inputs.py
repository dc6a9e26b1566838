"""Every command, driven through the installed console script with inputs a person gets wrong.

The contract (README, "Commands"): a mistake in the input exits 2 with exactly one line on stderr that
names the file or value, never a traceback, and it is caught before any work starts, so nothing is
left behind. Each row is (command line, a text the error line must hold); `{x}` in an argument is a
path inside the row's scratch folder, made by `scratch` below.
"""

import shutil
import subprocess

import pytest

from tests.conftest import HARNESS

SMOKE = ("--workload", "smoke")

CASES = [
    # click's own usage errors are one line too
    (["variants", "--no-such-flag"], "--no-such-flag"),
    (["no-such-command"], "no-such-command"),
    (["plan", "--nodes", "abc"], "--nodes"),
    # harness run: outputs checked before work, options it would ignore refused
    (["run", "--variant", "cpu-naive", "--data", "{data}", *SMOKE, "--results", "{a_file}"], "--results"),
    (["run", "--variant", "cpu-naive", "--data", "{data}", *SMOKE, "--results", "{a_file}/under"], "--results"),
    (["run", "--variant", "cpu-cached", "--data", "{data}", *SMOKE, "--cache-dir", "{a_file}"], "--cache-dir"),
    (["run", "--variant", "cpu-naive", "--data", "{data}", *SMOKE, "--cache-dir", "{empty}"], "--cache-dir"),
    (["run", "--variant", "cpu-naive", "--data", "{data}", *SMOKE, "--logical-devices", "4"], "--logical-devices"),
    (["run", "--variant", "gpu4-parallel", "--data", "{data}", *SMOKE, "--logical-devices", "-1"],
     "--logical-devices"),
    (["run", "--variant", "data-naive", "--data", "{data}", *SMOKE, "--profile"], "--profile"),
    (["run", "--variant", "data-naive", "--data", "{data}", *SMOKE, "--workers", "3"], "--workers"),
    (["run", "--variant", "cpu-naive", "--data", "{data}", *SMOKE, "--sample-interval", "nan"], "--sample-interval"),
    (["run", "--variant", "cpu-naive", "--data", "{missing}", *SMOKE], "{missing}"),
    (["run", "--variant", "cpu-naive", "--data", "{a_file}", *SMOKE], "{a_file}"),
    # harness lth: every value checked before the dense run
    (["lth", "--data", "{data}", *SMOKE, "--sparsity", "1.0", "--out", "{out}"], "--sparsity 1.0"),
    (["lth", "--data", "{data}", *SMOKE, "--sparsity", "-0.1", "--out", "{out}"], "--sparsity -0.1"),
    (["lth", "--data", "{data}", *SMOKE, "--threshold", "-1", "--scope", "layer", "--out", "{out}"], "--threshold"),
    (["lth", "--data", "{data}", *SMOKE, "--threshold", "0.1", "--scope", "layer", "--out", "{out}"], "--threshold"),
    (["lth", "--data", "{data}", *SMOKE, "--threshold", "nan", "--out", "{out}"], "--threshold nan"),
    (["lth", "--data", "{data}", *SMOKE, "--sparsity", "0.5,0.5", "--out", "{out}"], "--sparsity"),
    (["lth", "--data", "{data}", *SMOKE, "--sparsity", "0.5,0.50001", "--out", "{out}"], "same mask"),
    (["lth", "--data", "{data}", *SMOKE, "--rewind", "0,0", "--out", "{out}"], "--rewind"),
    (["lth", "--data", "{data}", *SMOKE, "--pipeline", "offline", "--out", "{out}"], "reads preprocessed shards"),
    (["lth", "--data", "{data}", *SMOKE, "--keep-dense", "stem,bogus", "--out", "{out}"], "bogus"),
    (["lth", "--data", "{data}", *SMOKE, "--sparsity-over", "rest", "--out", "{out}"], "--keep-dense"),
    (["lth", "--data", "{data}", *SMOKE, "--rewind", "9", "--out", "{out}"], "--rewind"),
    (["lth", "--data", "{data}", *SMOKE, "--out", "{a_file}"], "--out"),
    (["lth", "--data", "{data}", *SMOKE, "--out", "{a_file}/search"], "--out"),
    (["lth", "--data", "{data}", *SMOKE, "--workers", "4", "--out", "{out}"], "--workers"),
    (["lth", "--data", "{data}", *SMOKE, "--spark-master", "local[2]", "--out", "{out}"], "--spark-master"),
    (["lth", "--data", "{data}", *SMOKE, "--logical-devices", "4", "--out", "{out}"], "--logical-devices"),
    (["lth", "--data", "{data}", *SMOKE, "--threads", "0", "--out", "{out}"], "--threads"),
    (["lth", "--data", "{data}", *SMOKE, "--threads", "999", "--out", "{out}"], "--threads 999 is more than"),
    (["lth", "--data", "{data}", *SMOKE, "--executor", "multiprocessing", "--workers", "999", "--out", "{out}"],
     "--workers 999 is more than this machine holds"),
    (["run", "--variant", "sweep-mp", "--data", "{data}", *SMOKE, "--workers", "999"], "--workers 999"),
    (["data", "preprocess", "{data}", "{out}", "--engine", "local", "--workers", "999"], "--workers 999"),
    (["lth", "--data", "{missing}", *SMOKE, "--out", "{out}"], "{missing}"),
    # the training recipe: each value checked before the dense run
    (["lth", "--data", "{data}", *SMOKE, "--lr", "-0.1", "--out", "{out}"], "--lr"),
    (["lth", "--data", "{data}", *SMOKE, "--lr", "inf", "--out", "{out}"], "--lr"),
    (["lth", "--data", "{data}", *SMOKE, "--lr-schedule", "linear", "--out", "{out}"], "--lr-schedule"),
    (["lth", "--data", "{data}", *SMOKE, "--optimizer", "lamb", "--out", "{out}"], "--optimizer"),
    (["lth", "--data", "{data}", *SMOKE, "--lr-schedule", "step", "--milestones", "4", "--epochs", "4",
      "--rewind", "0", "--out", "{out}"], "--milestones"),
    (["lth", "--data", "{data}", *SMOKE, "--lr-schedule", "step", "--milestones", "2,1", "--out", "{out}"],
     "--milestones"),
    (["lth", "--data", "{data}", *SMOKE, "--lr-schedule", "step", "--out", "{out}"], "--milestones"),
    (["lth", "--data", "{data}", *SMOKE, "--lr-warmup", "4ep", "--epochs", "4", "--rewind", "0", "--out", "{out}"],
     "--lr-warmup"),
    (["lth", "--data", "{data}", *SMOKE, "--lr-warmup", "8it", "--epochs", "4", "--rewind", "0", "--out", "{out}"],
     "--lr-warmup 8it"),
    (["lth", "--data", "{data}", *SMOKE, "--lr-warmup", "2 epochs", "--out", "{out}"], "--lr-warmup"),
    (["lth", "--data", "{data}", *SMOKE, "--gamma", "0", "--out", "{out}"], "--gamma"),
    (["lth", "--data", "{data}", *SMOKE, "--weight-decay", "-1e-4", "--out", "{out}"], "--weight-decay"),
    (["lth", "--data", "{data}", *SMOKE, "--label-smoothing", "1", "--out", "{out}"], "--label-smoothing"),
    (["lth", "--data", "{data}", *SMOKE, "--batch", "0", "--out", "{out}"], "--batch"),
    (["run", "--variant", "cpu-naive", "--data", "{data}", *SMOKE, "--lr", "0", "--results", "{out}"], "--lr"),
    (["run", "--variant", "cpu-naive", "--data", "{data}", *SMOKE, "--lr-warmup", "4ep", "--steps", "2",
      "--results", "{out}"], "--lr-warmup"),  # 5 + 2 steps of 2 a epoch: the schedule spans 4 epochs
    (["run", "--variant", "data-naive", "--data", "{data}", *SMOKE, "--weight-decay", "1e-4", "--results", "{out}"],
     "--weight-decay"),
    # harness report and compare: what they read is named
    (["report", "{a_file}", "--out", "{out}.html"], "{a_file}"),
    (["report", "{missing}", "--out", "{out}.html"], "{missing}"),
    (["report", "{empty}", "--out", "{empty}"], "--out"),
    (["report", "{empty}", "--out", "{out}.html", "--lth", "{missing}"], "{missing}"),
    (["compare", "*", "?", "--results", "{empty}"], "*"),
    (["compare", "{missing}.json", "{missing}.json"], "{missing}"),
    (["compare", "{binary_json}", "{binary_json}"], "{binary_json}"),
    # harness plan and slurm render
    (["plan", "--nodes", "1", "--gpus-per-node", "1", "--thresholds", "1000000000", "--rewinds", "1", "--epochs", "2",
      "--epoch-seconds", "1"], "--thresholds"),
    (["plan", "--nodes", "1", "--gpus-per-node", "1", "--thresholds", "2", "--rewinds", "1", "--epochs", "2",
      "--epoch-seconds", "-10"], "--epoch-seconds"),
    (["plan", "--nodes", "1", "--gpus-per-node", "1", "--thresholds", "2", "--rewinds", "1", "--from", "{jpeg}"],
     "{jpeg}"),
    (["slurm", "render", "sweep-mpi", "--job-name", "x\ntouch /tmp/p"], "--job-name"),
    (["slurm", "render", "sweep-mpi", "--out", "{empty}"], "--out"),
    # harness data: outputs checked before work, values bounded
    (["data", "synth", "{a_file}"], "{a_file}"),
    (["data", "synth", "{out}", "--classes", "0"], "--classes"),
    (["data", "preprocess", "{data}", "{a_file}", "--engine", "local"], "{a_file}"),
    (["data", "preprocess", "{data}", "{out}", "--engine", "local", "--size", "1000000"], "--size"),
    (["data", "preprocess", "{missing}", "{out}", "--engine", "local"], "{missing}"),
    (["data", "preprocess", "{data}", "{users_folder}", "--engine", "local", "--size", "32"], "{users_folder}"),
    (["data", "download", "{missing}", "{out}", "--engine", "local"], "{missing}"),
    (["data", "download", "{urls}", "{out}", "--engine", "local", "--timeout", "nan"], "--timeout"),
    (["data", "download", "{urls}", "{a_file}", "--engine", "local"], "{a_file}"),
]


@pytest.fixture(scope="module")
def scratch(tiny_data, tmp_path_factory):
    """The paths the rows name: a data set, a file, an empty folder, a missing path, odd files."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "a_file").write_text("not a folder\n")
    (root / "empty").mkdir()
    (root / "binary.json").write_bytes(bytes(range(256)))
    shutil.copy(next((tiny_data / "train").rglob("*.JPEG")), root / "photo.JPEG")
    (root / "users_folder").mkdir()
    (root / "users_folder" / "my_dataset.tfrecord").write_text("the user's own file\n")
    (root / "urls.txt").write_text("n01440764_1\thttp://127.0.0.1:9/a.jpg\n")
    return {"data": tiny_data, "a_file": root / "a_file", "empty": root / "empty", "missing": root / "missing",
            "binary_json": root / "binary.json", "jpeg": root / "photo.JPEG", "users_folder": root / "users_folder",
            "urls": root / "urls.txt", "out": root / "out"}


def fill(text: str, paths: dict) -> str:
    return text.format(**{name: str(path) for name, path in paths.items()})


@pytest.mark.parametrize("args, named", CASES, ids=[" ".join(args)[:60] for args, _ in CASES])
def test_a_mistake_is_one_line_exit_2_and_leaves_nothing(scratch, args, named):
    result = subprocess.run([str(HARNESS), *(fill(a, scratch) for a in args)], capture_output=True, text=True,
                            timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert fill(named, scratch) in lines[0]
    assert not scratch["out"].exists()  # refused before any work: no output folder begun
    assert (scratch["users_folder"] / "my_dataset.tfrecord").read_text() == "the user's own file\n"
