"""Warm workers: a kept compiled model made each ticket's fresh model equals building that ticket afresh.

Each scenario runs ticket X built afresh (which keeps its model), then a different ticket Y on the kept
model (another mask, other weights, a checkpoint saved with optimizer state), then X again on the kept
model: the second X must be the first, bit for bit, so nothing of Y (mask, weights, momentum, iteration
count, metrics) survives into it. One scenario per masking method that holds a mask in the step, so
each traces its training step once.
"""

import numpy as np
import pytest

from pipelines.data.shards import open_source
from pipelines.lth.masks import MaskSpec, model_masks
from pipelines.train import checkpoints
from pipelines.train.masking import masked_nonzero_count
from pipelines.train.model import build_model
from pipelines.train.placement import PlacementSpec, place
from pipelines.train.trainer import TrainSetup
from pipelines.train.warm import ticket_model
from pipelines.train.workloads import get_workload

TINY = get_workload("lenet-smoke")  # the machinery, on the smallest network
CONTROL_SEED = 17


@pytest.fixture(scope="module", autouse=True)
def op_determinism():
    """Tickets run with op determinism on (LthConfig.deterministic); restored after this module."""
    import tensorflow as tf
    from tensorflow.python.framework import config

    was_on = config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    if not was_on:
        config.disable_op_determinism()


@pytest.fixture(scope="module")
def setup(tiny_data):
    """The `cached` pipeline shuffles with a seed derived from the global one: a ticket fitting under
    another global seed than its fresh build did would see other batches."""
    return TrainSetup(source=open_source(str(tiny_data)), workload=TINY, placement=place(PlacementSpec()),
                      pipeline="cached", seed=3)


@pytest.fixture(scope="module")
def rewind_point(setup, tmp_path_factory):
    """A rewind checkpoint (the initialization of seed 3) and two different masks of it."""
    folder = tmp_path_factory.mktemp("checkpoints")
    model = build_model(TINY, setup.num_classes, seed=3)
    checkpoints.save_checkpoint(model, folder, 0, {})
    return folder, model_masks(model, MaskSpec("layer", 0.5)), model_masks(model, MaskSpec("layer", 0.8))


def rewound(folder, epoch):
    return lambda model: checkpoints.load_checkpoint(model, folder, epoch)


def train(setup, model, masks) -> dict:
    """One epoch, then what a ticket records: the evaluation, the weights, and whether the mask held."""
    setup.fit(model, 1)
    assert masked_nonzero_count(model, masks) == 0
    return {**setup.evaluate(model), "weights": model.get_weights()}


def assert_same_ticket(got: dict, want: dict) -> None:
    assert (got["top1"], got["top5"], got["loss"]) == (want["top1"], want["top5"], want["loss"])
    for a, b in zip(got["weights"], want["weights"], strict=True):
        np.testing.assert_array_equal(a, b)


def assert_fresh_optimizer_and_metrics(model, masks) -> None:
    """The optimizer as built, but for its mask variables, which hold the ticket's mask; metrics reset."""
    optimizer = model.optimizer
    assert int(optimizer.iterations.numpy()) == 0
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(TINY.recipe.learning_rate)
    held = {v.path.split("/", 1)[1]: v.numpy() for v in optimizer.variables if v.path.endswith("_mask")}
    assert sorted(held) == sorted(path.replace("/", "_") + "_mask" for path in masks)
    for path, mask in masks.items():
        np.testing.assert_array_equal(held[path.replace("/", "_") + "_mask"], mask)
    slots = [v for v in optimizer.variables
             if v is not optimizer.iterations and "learning_rate" not in v.path and not v.path.endswith("_mask")]
    assert slots and all(not np.any(v.numpy()) for v in slots)
    assert all(not np.any(v.numpy()) for v in model.metrics_variables)


def test_a_rewound_ticket_after_others_equals_it_built_afresh(setup, rewind_point, tmp_path):
    """X; Y, rewound to X's trained weights (a checkpoint holding X's optimizer state) with another mask;
    a control (whose initialization sets another global seed); X again."""
    folder, mask_x, mask_y = rewind_point
    model = ticket_model(setup, mask_x, "gradient", load=rewound(folder, 0))
    fresh_x = train(setup, model, mask_x)
    checkpoints.save_checkpoint(model, tmp_path, None, {})

    assert ticket_model(setup, mask_y, "gradient", load=rewound(tmp_path, None)) is model
    assert_fresh_optimizer_and_metrics(model, mask_y)
    train(setup, model, mask_y)  # the weights X keeps and Y prunes get gradients: Y's mask must hold them
    assert ticket_model(setup, mask_y, "gradient", seed=CONTROL_SEED) is model
    train(setup, model, mask_y)

    assert ticket_model(setup, mask_x, "gradient", load=rewound(folder, 0)) is model
    assert_same_ticket(train(setup, model, mask_x), fresh_x)


def test_a_control_after_a_rewound_ticket_equals_it_built_afresh(setup, rewind_point):
    """The other masking method, and a random-init control as X: its weights come from its own seed."""
    folder, mask_x, mask_y = rewind_point
    model = ticket_model(setup, mask_y, "constraint", seed=CONTROL_SEED)
    fresh_control = train(setup, model, mask_y)

    assert ticket_model(setup, mask_x, "constraint", load=rewound(folder, 0)) is model
    assert_fresh_optimizer_and_metrics(model, mask_x)
    train(setup, model, mask_x)

    assert ticket_model(setup, mask_y, "constraint", seed=CONTROL_SEED) is model
    assert_same_ticket(train(setup, model, mask_y), fresh_control)


def test_a_model_is_kept_per_graph_and_not_kept_when_asked(setup, rewind_point):
    folder, mask_x, _ = rewind_point
    kept = ticket_model(setup, mask_x, "none", load=rewound(folder, 0))
    assert ticket_model(setup, mask_x, "none", load=rewound(folder, 0)) is kept
    assert ticket_model(setup, mask_x, "none", load=rewound(folder, 0), keep=False) is not kept
    assert ticket_model(setup, {}, "none", load=rewound(folder, 0)) is not kept  # other masked kernels: another graph
    assert ticket_model(setup, mask_x, "none", load=rewound(folder, 0)) is kept
