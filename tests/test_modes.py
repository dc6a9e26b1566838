"""Retraining modes start from their own weights and schedule position; a stability pair of identical
networks has no barrier."""

from types import SimpleNamespace

import numpy as np
import pytest

from pipelines.lth.layout import SearchFolder
from pipelines.lth.masks import MaskSpec
from pipelines.lth.plan import Grid, oneshot_jobs
from pipelines.lth.rewind import parse_points
from pipelines.lth.ticket import start_of
from pipelines.train import checkpoints
from pipelines.train.model import build_model
from pipelines.train.workloads import get_workload

SMOKE = get_workload("smoke")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A search folder whose grid point 3it and final checkpoints hold different weights, and a model
    of the same shape to load them into."""
    folder = SearchFolder(tmp_path_factory.mktemp("modes"))
    model = build_model(SMOKE, 3, seed=1)
    initial = model.get_weights()
    weights = {}
    for name, where, shift in (("point", parse_points(["3it"])[0], 0.0), ("final", None, 1.0)):
        model.set_weights([w + shift for w in initial])
        checkpoints.save_checkpoint(model, folder.checkpoints, where, {})
        weights[name] = model.get_weights()
    return folder, weights, build_model(SMOKE, 3, seed=9)


@pytest.mark.parametrize("mode, weights, step", [("weight", "point", 3), ("lr", "final", 3), ("finetune", "final", 40)])
def test_each_mode_loads_its_weights_and_starts_its_schedule(saved, mode, weights, step):
    folder, expected, model = saved
    grid = Grid(tuple(parse_points(["3it"])), epochs=4, steps_per_epoch=10, modes=(mode,))
    job = oneshot_jobs([MaskSpec("layer", 0.5)], grid)[0]
    load, start_step = start_of(job, SimpleNamespace(total_steps=40), folder)
    load(model)
    assert start_step == step and job.steps == 37  # every mode retrains what rewinding to 3it leaves
    for got, want in zip(model.get_weights(), expected[weights]):
        np.testing.assert_array_equal(got, want)


def test_the_line_between_two_identical_networks_has_no_barrier_and_statistics_are_re_estimated(tiny_data,
                                                                                                monkeypatch):
    from pipelines.data.shards import open_source
    from pipelines.lth import stability
    from pipelines.train.placement import PlacementSpec, place
    from pipelines.train.trainer import TrainSetup

    monkeypatch.setattr(stability, "ALPHAS", (0.0, 0.5, 1.0))
    setup = TrainSetup(source=open_source(str(tiny_data)), workload=SMOKE, placement=place(PlacementSpec()))
    model = setup.model()  # untrained: the line's end points need only be one network
    weights = model.get_weights()
    curve = stability.interpolate(model, setup, weights, weights)
    assert len(curve) == 3 and len(set(curve)) == 1 and stability.error_barrier(curve) == 0.0
    moving = [layer.moving_variance for layer in model.layers if hasattr(layer, "moving_variance")]
    assert all(not np.allclose(v, 1.0) for v in moving[:3])  # re-estimated from batches, not left at the reset


def test_batchnorm_statistics_are_the_mean_of_the_batches_statistics():
    import keras

    from pipelines.train import batchnorm

    model = build_model(SMOKE, 3, seed=4)
    first = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    before_first = keras.Model(model.inputs, first.input)  # no BatchNormalization before it
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 256, (4, 32, 32, 3)).astype("uint8"), None) for _ in range(3)]
    assert batchnorm.reestimate(model, batches, count=5) == 3
    means = [keras.ops.convert_to_numpy(before_first([x])).mean(axis=(0, 1, 2)) for x, _ in batches]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first.moving_mean), np.mean(means, axis=0), rtol=1e-4,
                               atol=1e-5)


def test_a_network_without_batchnorm_has_no_statistics_to_re_estimate():
    from pipelines.train import batchnorm
    from pipelines.train.workloads import get_workload

    model = build_model(get_workload("lenet-smoke"), 3, seed=4)
    weights = [w.copy() for w in model.get_weights()]
    batches = [(np.zeros((4, 16, 16, 3), "uint8"), None)]
    assert batchnorm.reestimate(model, batches) == 0  # LeNet's stability pairs used to fail here
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
