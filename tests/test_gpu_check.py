"""The GPU check script (benchmarks/gpu/check.sh) on this CPU: its fast path, never a GPU call.

A dry run with `--device cpu` builds the data set and plans every step; a run whose every step fails
still records each one and writes its archive. What it runs on a GPU is checked where there is one.
"""

import csv
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

CHECK = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu" / "check.sh"
PLANNED = ["synthetic-float32", "synthetic-mixed_bfloat16", "naive", "processes", "synthetic-masked",
           "synthetic-zeroed", "lth", "synthetic-constraint"]


def check(out: Path, *flags: str, python: str = sys.executable) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the script from elsewhere (it finds the repository itself); its archive's files by name."""
    result = subprocess.run(["bash", str(CHECK), str(out), *flags], capture_output=True, text=True, timeout=120,
                            cwd=out.parent, env={**os.environ, "PYTHON": python, "SITE": str(out.parent / "site")})
    archives = list(out.glob("*.tar.gz"))
    assert len(archives) == 1, (archives, result.stdout, result.stderr)
    with tarfile.open(archives[0]) as archive:
        files = {Path(m.name).relative_to(Path(m.name).parts[0]).as_posix(): archive.extractfile(m).read().decode()
                 for m in archive.getmembers() if m.isfile()}
    return result, files


def steps(files: dict) -> dict[str, dict]:
    return {row["step"]: row for row in csv.DictReader(io.StringIO(files["steps.tsv"]), delimiter="\t")}


def test_a_dry_run_on_the_cpu_builds_the_data_and_plans_every_step_on_jax(tmp_path):
    result, files = check(tmp_path / "out", "--device", "cpu", "--quick", "--dry-run")
    assert result.returncode == 0, result.stderr
    done = steps(files)
    assert list(done) == ["machine", "data", *PLANNED]
    assert done["data"]["status"] == "ok" and "jax" in files["machine.txt"]
    assert done["synthetic-mixed_bfloat16"]["status"].startswith("skipped")  # needs a GPU
    planned = [done[name] for name in PLANNED if name != "synthetic-mixed_bfloat16"]
    assert all(row["status"] == "dry-run" for row in planned)
    assert all("--backend jax" in row["command"] and "gpu1" not in row["command"] for row in planned)
    assert "--variant cpu-processes" in done["processes"]["command"]
    assert "--device cpu" in done["lth"]["command"] and "--sparsity 0.5" in done["lth"]["command"]
    assert "--pipeline processes" in done["lth"]["command"]  # it needs no TensorFlow


def test_steps_that_fail_are_recorded_and_the_archive_is_written_all_the_same(tmp_path):
    result, files = check(tmp_path / "out", "--device", "cpu", "--quick", python="false")
    assert result.returncode == 1
    done = steps(files)
    assert list(done) == ["wheels", "machine", "data", *PLANNED]  # `false` imports no Keras: wheels first
    assert all(row["status"] == "exit 1" for name, row in done.items() if name != "synthetic-mixed_bfloat16")
    assert {f"logs/{name}.log" for name in done if name != "synthetic-mixed_bfloat16"} <= set(files)
