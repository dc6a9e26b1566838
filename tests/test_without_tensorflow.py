"""Where TensorFlow is not installed, what needs none runs: the data runs of naive and processes (the
decode ceiling with PIL), and on the JAX backend training on synthetic, naive and processes, and an
LTH search; a tf.data pipeline is refused in one line.

Each test runs the installed console script with `import tensorflow` made to fail, as on a machine
without it: PYTHONPATH puts a `tensorflow` package that raises ImportError ahead of the real one.
"""

import json
import os
import subprocess

import pytest

from tests.conftest import HARNESS

pytestmark = pytest.mark.slow

SHORT = ("--workload", "smoke", "--steps", "2", "--warmup", "1", "--sample-interval", "0")


@pytest.fixture(scope="module")
def without_tensorflow(tmp_path_factory):
    """Run `harness *args` where TensorFlow cannot be imported; returns the completed process."""
    hidden = tmp_path_factory.mktemp("no-tensorflow")
    (hidden / "tensorflow").mkdir()
    (hidden / "tensorflow" / "__init__.py").write_text("raise ImportError('TensorFlow is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hidden), os.environ.get("PYTHONPATH")]))}

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([str(HARNESS), *map(str, args)], capture_output=True, text=True, env=env, timeout=900)

    return run


def record_of(result) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    with open(json.loads(result.stdout.splitlines()[-1])["record"]) as handle:
        return json.load(handle)


@pytest.mark.parametrize("pipeline", ["naive", "processes"])
def test_a_data_run_decodes_with_pil_and_measures_its_ceiling_with_pil(without_tensorflow, tiny_data, tmp_path,
                                                                       pipeline):
    record = record_of(without_tensorflow("run", "--variant", f"data-{pipeline}", "--data", tiny_data, *SHORT,
                                          "--results", tmp_path, "--json"))
    assert record["timing"]["images_per_s"] > 0
    assert record["decode_ceiling"]["decoder"].startswith("PIL")


@pytest.mark.parametrize("variant", ["cpu-naive", "cpu-processes"])
def test_training_on_jax_runs_on_the_pipelines_that_need_no_tensorflow(without_tensorflow, tiny_data, tmp_path,
                                                                       variant):
    """With its verdict, each run also trains on `synthetic` (the model ceiling: what cpu-synthetic runs)
    and drains its own generator again after the fit (the supply)."""
    record = record_of(without_tensorflow("run", "--backend", "jax", "--variant", variant, "--data", tiny_data,
                                          *SHORT, "--results", tmp_path, "--json"))
    assert record["backend"] == "jax" and record["timing"]["steps"] == 2
    assert record["verdict"]["model_ceiling_images_per_s"] > 0 < record["verdict"]["pipeline_supply_images_per_s"]


def test_a_tf_data_pipeline_is_refused_in_one_line_naming_what_runs_without_it(without_tensorflow, tiny_data,
                                                                              tmp_path):
    result = without_tensorflow("run", "--backend", "jax", "--variant", "cpu-parallel", "--data", tiny_data, *SHORT,
                                "--results", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: the parallel pipeline (naive, processes, synthetic run without it) needs TensorFlow, which is not "
        "installed here: install it, or choose what runs without it (harness variants says which)"]


def test_an_lth_search_runs_on_jax(without_tensorflow, tiny_data, tmp_path):
    result = without_tensorflow("lth", "--backend", "jax", "--data", tiny_data, "--workload", "smoke", "--epochs", "1",
                                "--rewind", "0", "--sparsity", "0.5", "--scope", "layer", "--pipeline", "processes",
                                "--out", tmp_path / "search", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["failed"] == [] and summary["placement"]["backend"] == "jax"
    assert 0 <= summary["dense"]["top1"] <= 1 and len(summary["tickets"]) == 1
