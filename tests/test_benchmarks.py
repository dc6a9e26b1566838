"""The asv suite stays runnable: asv discovers and imports it, and a quick dry run of one data
benchmark (the offline pipeline, whose cached set-up builds the image set and its shards) passes at
LTH_BENCH_SCALE=quick. Nothing here is timed: `make bench` does the measuring."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ASV = Path(sys.executable).with_name("asv")


def asv(*args, home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """asv in the repository, with its machine file in `home` so that nothing is asked interactively."""
    env = {**os.environ, "HOME": str(home), "LTH_BENCH_SCALE": "quick"}
    subprocess.run([ASV, "machine", "--yes"], cwd=ROOT, env=env, capture_output=True, check=True)
    return subprocess.run([ASV, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_asv_discovers_every_suite(tmp_path):
    checked = asv("check", "--python=same", home=tmp_path)
    assert checked.returncode == 0 and "No problems found" in checked.stdout, checked.stdout + checked.stderr


@pytest.mark.slow
def test_quick_dry_run_of_the_data_suite(tmp_path):
    ran = asv("run", "--python=same", "--quick", "--dry-run", "--show-stderr", "--bench",
              r"DataPipelines.track_images_per_s\('offline'\)", home=tmp_path)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output
    assert re.search(r"^\s*offline\s+\d+\.\d+\s*$", output, flags=re.M), output  # the others read n/a
    assert "failed" not in output.lower(), output
