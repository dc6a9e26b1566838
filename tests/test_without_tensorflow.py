"""Where TensorFlow is not installed, what needs none runs: the data runs of naive and processes (the
decode ceiling with PIL), and on the JAX backend training (fed by processes, its verdict training on
synthetic) and an LTH search, each with a recipe given on the command line; a tf.data pipeline is
refused in one line.

Each test runs the installed console script with `import tensorflow` made to fail, as on a machine
without it: PYTHONPATH puts a `tensorflow` package that raises ImportError ahead of the real one.
"""

import json
import os
import subprocess

import pytest

from tests.conftest import HARNESS
from tests.test_recipe import OVERRIDDEN, OVERRIDES

pytestmark = pytest.mark.slow

SHORT = ("--workload", "lenet-smoke", "--steps", "2", "--warmup", "1", "--sample-interval", "0")


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


def test_training_on_jax_runs_on_a_pipeline_that_needs_no_tensorflow_with_the_recipe_asked_for(
        without_tensorflow, tiny_data, tmp_path):
    """With its verdict, the run also trains on `synthetic` (the model ceiling: what cpu-synthetic runs)
    and drains its own generator again after the fit (the supply). Its recipe comes from the command
    line (tests/test_recipe.py says what each field does), and the record holds it."""
    record = record_of(without_tensorflow("run", "--backend", "jax", "--variant", "cpu-processes", "--data", tiny_data,
                                          *SHORT, "--steps", "6", "--results", tmp_path, *OVERRIDES, "--json"))
    assert record["backend"] == "jax" and record["timing"]["steps"] == 6  # past the recipe's milestone, epoch 1
    assert record["verdict"]["model_ceiling_images_per_s"] > 0 < record["verdict"]["pipeline_supply_images_per_s"]
    assert record["workload"]["recipe"] == OVERRIDDEN and record["global_batch"] == 8


def test_a_tf_data_pipeline_is_refused_in_one_line_naming_what_runs_without_it(without_tensorflow, tiny_data,
                                                                              tmp_path):
    result = without_tensorflow("run", "--backend", "jax", "--variant", "cpu-parallel", "--data", tiny_data, *SHORT,
                                "--results", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: the parallel pipeline (naive, processes, synthetic run without it) needs TensorFlow, which is not "
        "installed here: install it, or choose what runs without it (harness variants says which)"]


def test_an_lth_search_runs_on_jax_with_its_recipe_in_every_result_and_resumes_only_with_it(without_tensorflow,
                                                                                            tiny_data, tmp_path):
    out = tmp_path / "search"
    grid = ("lth", "--backend", "jax", "--data", tiny_data, "--workload", "lenet-smoke", "--epochs", "2",
            "--rewind", "0,1", "--sparsity", "0.5", "--scope", "layer", "--pipeline", "processes", "--out", out)
    result = without_tensorflow(*grid, *OVERRIDES, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["failed"] == [] and summary["placement"]["backend"] == "jax"
    assert 0 <= summary["dense"]["top1"] <= 1 and len(summary["tickets"]) == 2
    assert summary["recipe"] == OVERRIDDEN == json.loads((out / "run.json").read_text())["recipe"]
    jobs = [json.loads(job.read_text()) for job in (out / "jobs").glob("*.json")]
    assert len(jobs) == 2 and all(job["recipe"] == OVERRIDDEN and job["masked_nonzero"] == 0 for job in jobs)
    assert json.loads((out / "dense.json").read_text())["global_batch"] == 8

    again = without_tensorflow(*grid, *OVERRIDES)  # the same recipe read back from run.json: nothing to redo
    assert again.returncode == 0 and "dense: already trained" in again.stderr, again.stderr[-3000:]
    refused = without_tensorflow(*grid, *OVERRIDES[:-2], "--batch", "4")
    assert refused.returncode == 2 and "other settings" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
