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
    """Three learnable classes, enough train images for two smoke batches, with odd formats."""
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
