import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pipelines.data.synth import SynthSpec, build  # noqa: E402

HARNESS = Path(sys.executable).with_name("harness")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Three learnable classes, enough train images for two smoke batches (four of lenet-smoke), with odd formats."""
    root = tmp_path_factory.mktemp("tiny") / "data"
    build(root, SynthSpec(classes=3, train_per_class=12, val_per_class=3, seed=7, odd_every=5))
    return root


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
    """One small `harness lth` search (a layer-wise 50% mask, rewinds 0 and 1, a random control):
    test_lth_command checks it, and test_sweep copies its dense run and masks for every executor.
    Returns (folder, the --json summary, the completed process)."""
    out = tmp_path_factory.mktemp("lth") / "search"
    command = [str(HARNESS), "lth", "--data", str(tiny_data), *LTH_GRID, "--control", "random", "--out", str(out),
               "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout.splitlines()[-1]), result
