import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pipelines.data.synth import SynthSpec, build  # noqa: E402

HARNESS = Path(sys.executable).with_name("harness")


def built_once(tmp_path_factory, name: str, build) -> Path:
    """`ROOT/name`, built by `build(path)` once for the whole run: under pytest-xdist every worker has
    its own session, so the first to take the lock builds it and the others use it. Read-only to
    tests: a test that changes it works on a copy."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this run
    path, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)  # a worker that failed half way
            build(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Three learnable classes, enough train images for two smoke batches (four of lenet-smoke), with odd formats."""
    return built_once(tmp_path_factory, "tiny-data",
                      lambda root: build(root, SynthSpec(classes=3, train_per_class=12, val_per_class=3, seed=7,
                                                         odd_every=5)))


@pytest.fixture
def harness_cli():
    """Run the installed `harness` console script, as a user would."""

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(HARNESS), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                              timeout=600)

    return run


LTH_GRID = ("--workload", "lenet-smoke", "--epochs", "2", "--rewind", "0,1", "--sparsity", "0.5", "--scope", "layer")


@pytest.fixture(scope="session")
def lth_search(tiny_data, tmp_path_factory):
    """One small `harness lth` search (a layer-wise 50% mask, rewinds 0 and 1, a random control), run
    once for all workers: test_lth_command checks it, and test_sweep copies its dense run and masks for
    every executor. Returns (folder, the --json summary, the command's stderr)."""

    def run(root: Path) -> None:
        command = [str(HARNESS), "lth", "--data", str(tiny_data), *LTH_GRID, "--control", "random", "--out",
                   str(root / "search"), "--json"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr
        (root / "stderr.txt").write_text(result.stderr)
        (root / "summary.json").write_text(result.stdout.splitlines()[-1])

    root = built_once(tmp_path_factory, "lth-search", run)
    return root / "search", json.loads((root / "summary.json").read_text()), (root / "stderr.txt").read_text()
