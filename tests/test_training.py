"""Training stage in this process (CPU placement): checkpoints, rewinding, masks held in the step."""

import numpy as np
import pytest

from pipelines.train.masking import masked_nonzero_count
from pipelines.lth.masks import MaskSpec, model_masks
from pipelines.train.model import kernel_values
from pipelines.train import checkpoints
from pipelines.train.model import build_model
from pipelines.train.recipe import compile_model
from pipelines.train.recipe_schedule import ScheduleLength
from pipelines.train.workloads import get_workload

TINY = get_workload("lenet-smoke")  # the machinery, on the smallest network


def random_batches(seed=0, batch=8):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (batch, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, batch)
    return tf.data.Dataset.from_tensors((images, labels)).repeat()


def test_checkpoints_at_the_grid_in_epochs_or_steps_and_rewinding_restores_them(tmp_path):
    import keras

    from pipelines.lth.rewind import RewindPoint

    model = build_model(TINY, 3, seed=5)
    compile_model(model, TINY.recipe, ScheduleLength(3, 2))
    checkpoints.save_checkpoint(model, tmp_path, 0, {"workload": "lenet-smoke"})
    at_init = [w.copy() for w in model.get_weights()]
    seen = {}

    class Remember(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen[len(seen) + 1] = [w.copy() for w in self.model.get_weights()]

    grid = {3: RewindPoint.parse("3it"), 4: RewindPoint.parse("2ep")}  # 2 steps per epoch
    model.fit(random_batches(), epochs=3, steps_per_epoch=2, verbose=0, shuffle=False,
              callbacks=[checkpoints.rewind_callback(tmp_path, grid, {"workload": "lenet-smoke"}), Remember()])
    checkpoints.save_checkpoint(model, tmp_path, None, {"workload": "lenet-smoke"})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["epoch-000.json", "epoch-000.weights.h5", "epoch-002.json", "epoch-002.weights.h5",
                     "final.json", "final.weights.h5", "step-0000003.json", "step-0000003.weights.h5"]
    for point, expected in ((0, at_init), (grid[3], seen[3]), (grid[4], seen[4]), (None, seen[6])):
        fresh = build_model(TINY, 3, seed=99)
        metadata = checkpoints.load_checkpoint(fresh, tmp_path, point)
        assert metadata["checkpoint"] == checkpoints.checkpoint_name(point)
        assert "reset optimizer" in metadata["optimizer_state"]
        for got, want in zip(fresh.get_weights(), expected):
            np.testing.assert_array_equal(got, want)
    assert not np.allclose(seen[3][1], at_init[1]) and not np.allclose(seen[4][1], seen[3][1])


@pytest.mark.parametrize("masking", ["gradient", "constraint"])
def test_masked_weights_stay_zero_while_the_rest_train(masking):
    model = build_model(TINY, 3, seed=1)
    masks = model_masks(model, MaskSpec("layer", 0.7))
    compile_model(model, TINY.recipe, ScheduleLength(1, 4), masks=masks, masking=masking)
    before = kernel_values(model)
    assert masked_nonzero_count(model, masks) == 0
    model.fit(random_batches(), epochs=1, steps_per_epoch=4, verbose=0, shuffle=False)
    after = kernel_values(model)
    assert masked_nonzero_count(model, masks) == 0
    changed = sum(int(np.count_nonzero(after[n][m] != before[n][m])) for n, m in masks.items())
    assert changed > 0.5 * sum(int(m.sum()) for m in masks.values())


def test_mobilenet_v2s_prunable_weights_are_conv_depthwise_and_classifier_kernels_only():
    model = build_model(get_workload("smoke"), 3, seed=1)
    names = list(kernel_values(model))
    assert any("depthwise" in n for n in names) and any(n.startswith("predictions") for n in names)
    assert all(n.endswith("/kernel") for n in names) and len(names) == 53
    assert not any(part in n for n in names for part in ("gamma", "beta", "moving", "bias"))


def test_a_checkpoint_that_does_not_read_back_is_named_before_any_job_loads_it(tmp_path):
    model = build_model(TINY, 3, seed=5)
    checkpoints.save_checkpoint(model, tmp_path, 0, {"workload": "lenet-smoke"})
    assert checkpoints.checkpoint_problem(tmp_path, 0) is None
    assert "epoch-001.json is missing" in checkpoints.checkpoint_problem(tmp_path, 1)
    weights = tmp_path / "epoch-000.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert "epoch-000 is damaged" in checkpoints.checkpoint_problem(tmp_path, 0)
    (tmp_path / "epoch-000.json").write_text("{")
    assert "epoch-000 is damaged (JSONDecodeError" in checkpoints.checkpoint_problem(tmp_path, 0)
