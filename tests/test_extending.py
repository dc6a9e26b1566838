"""A new choice of any kind is its own code plus one registry line (README, "Extending"): a toy of each
kind, registered here as a user's module would register it, appears by itself in `harness variants`, in
every `--help` that offers that kind, in the verdict's advice and in the report, and a toy pipeline runs."""

import json
import re

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.report import render
from harness.verdict import model_bound_advice
from pipelines.data.online import IMAGES, PIPELINES, Pipeline
from pipelines.data.online.parallel import build_parallel
from pipelines.engines import ENGINES, _on_pool
from pipelines.executors import EXECUTORS, Executor, serial
from pipelines.lth.masks import SCOPES, prune_each_layer
from pipelines.train.fits import FITS, Fit, keras_fit
from pipelines.train.masking import MASKINGS, MaskingMethod
from pipelines.train.recipes import Recipe
from pipelines.train.placement import DEVICES, Device
from pipelines.train.workloads import WORKLOADS, Workload
from tests.records import _data, _train


def hold_nothing(model, masks, optimizer_class):
    return optimizer_class


TOYS = [  # (registry, name, implementation, summary): one line each, as in the README
    (PIPELINES, "toypipe", Pipeline(build_parallel, IMAGES, faster="offline"), "tf.data, as a toy"),
    (DEVICES, "gpu2", Device(2), "train on two GPUs (MirroredStrategy)"),
    (EXECUTORS, "toyexec", Executor(serial.run, "toyexec"), "one job after another, as a toy"),
    (MASKINGS, "toymask", MaskingMethod(hold_nothing, "toyheld"), "zeroed once, as a toy"),
    (WORKLOADS, "toyload", Workload("toyload", alpha=0.35, image_size=32, bn_momentum=0.9,
                                    recipe=Recipe(batch_size=8)), "a toy workload"),
    (ENGINES, "toyengine", _on_pool, "a process pool, as a toy"),
    (SCOPES, "toyscope", prune_each_layer, "each layer, as a toy"),
    (FITS, "toyfit", Fit(keras_fit), "in this process, as a toy"),
]


@pytest.fixture
def toys():
    for registry, name, value, summary in TOYS:
        registry.add(name, value, summary)
    yield
    for registry, name, *_ in TOYS:
        registry.remove(name)


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def offered(name: str, help_text: str) -> bool:
    """Whether `name` is one of the [a|b|c] choices of an option in `help_text`."""
    return re.search(rf"[\[|]{name}[\]|]", help_text) is not None


def test_each_toy_choice_is_a_variant_and_a_choice_in_every_help_that_offers_its_kind(toys):
    names = {v["name"] for v in json.loads(invoke("variants", "--json").splitlines()[-1])["variants"]}
    assert {"cpu-toypipe", "gpu2-toypipe", "gpu2-naive", "gpu2-synthetic", "data-toypipe", "cpu-synthetic-toyheld",
            "preprocess-toyengine", "sweep-toyexec", "sweep-toyfit"} <= names
    lth_help = invoke("lth", "--help")
    for name in ("toyload", "toyscope", "toymask", "toyexec", "toyfit", "gpu2"):
        assert offered(name, lth_help), name
    assert offered("toyload", invoke("run", "--help"))
    assert offered("toyengine", invoke("data", "preprocess", "--help"))


def test_the_verdict_and_the_report_know_the_toys(toys):
    assert model_bound_advice("gpu1").startswith("more devices (gpu2)")  # the next step up is now gpu2
    page = render([_train("gpu2-toypipe", 80.0, 0.0, ceiling=100.0, supply=90.0, bound="model", advice="x"),
                   _data("data-toypipe", 300.0, 10.0)])
    assert "gpu2-toypipe" in page and "data-toypipe" in page


@pytest.mark.slow
def test_a_toy_pipeline_runs_as_a_variant(toys, tiny_data, tmp_path):
    output = invoke("run", "--variant", "data-toypipe", "--data", str(tiny_data), "--workload", "toyload",
                    "--steps", "2", "--warmup", "1", "--sample-interval", "0", "--results", str(tmp_path), "--json")
    record = json.loads(output.splitlines()[-1])
    assert record["variant"] == "data-toypipe" and record["images_per_s"] > 0


def test_a_toy_is_gone_once_removed():
    assert "toypipe" not in PIPELINES and "gpu2" not in DEVICES
    assert not offered("toyexec", invoke("lth", "--help"))
