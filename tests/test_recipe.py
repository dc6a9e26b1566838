"""The training recipe as data: its schedule in the compiled step, decoupled weight decay under masks,
its place in every result, and its command-line overrides (end to end in tests/test_without_tensorflow.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from pipelines.data.shards import open_source
from pipelines.errors import UserInputError
from pipelines.lth.masks import MaskSpec, model_masks
from pipelines.train.masking import masked_nonzero_count
from pipelines.train.model import build_model, kernel_values
from pipelines.train.placement import PlacementSpec, place
from pipelines.train.recipe import compile_model
from pipelines.train.recipe_schedule import ScheduleLength
from pipelines.train.recipes import Recipe
from pipelines.train.trainer import TrainSetup
from pipelines.train.warm import ticket_model
from pipelines.train.workloads import get_workload

SMOKE = get_workload("smoke")
TINY = get_workload("lenet-smoke")  # the machinery, on the smallest network
STEPS_PER_EPOCH = 4

# The rate each step of the compiled training step applies, read off the weights: the inputs are zeros,
# so the kernel gets no gradient and moves only by the decoupled weight decay, w -= rate * wd * w.
RATES = """
import json, sys
import numpy as np
import keras
from pipelines.train.recipe import compile_model
from pipelines.train.recipe_schedule import ScheduleLength
from pipelines.train.recipes import Recipe

WD = 0.5
recipe = Recipe(**{**json.loads(sys.argv[1]), "weight_decay": WD})
epochs, start, steps = map(int, sys.argv[2:5])
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax", kernel_initializer="ones")])
compile_model(model, recipe, ScheduleLength(epochs=epochs, steps_per_epoch=4))
model.optimizer.iterations.assign(start)
rates = []
for _ in range(steps):
    before = keras.ops.convert_to_numpy(model.layers[0].kernel)
    model.train_on_batch(np.zeros((2, 4), "float32"), np.zeros(2, "int64"))
    after = keras.ops.convert_to_numpy(model.layers[0].kernel)
    rates.append(float(np.mean(1 - after / before)) / WD)
print(json.dumps({"rates": rates, "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations))}))
"""


def rates(recipe: dict, epochs: int, start: int = 0, steps: int | None = None, backend: str = "tensorflow"):
    args = (json.dumps(recipe), epochs, start, steps or epochs * STEPS_PER_EPOCH)
    script = f"import os\nos.environ['KERAS_BACKEND'] = {backend!r}\n{RATES}"  # Keras fixes it on import
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_warm_up_then_step_milestones_in_the_compiled_step_then_the_last_rate_held(backend):
    got = rates({"learning_rate": 0.1, "warmup": "2it", "schedule": "step", "milestones": [1, 2], "gamma": 0.5},
                epochs=3, steps=14, backend=backend)  # two steps past the end: fine-tuning's rate
    want = [0.05, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.025, 0.025]
    assert got["iterations"] == 14
    np.testing.assert_allclose(got["rates"], want, rtol=1e-4)


def test_cosine_ends_at_zero_and_a_ticket_resumes_where_its_rewind_epoch_was():
    whole = rates({"learning_rate": 0.2, "warmup": "1ep", "schedule": "cosine"}, epochs=3)["rates"]
    assert whole[:4] == pytest.approx([0.05, 0.1, 0.15, 0.2], rel=1e-4)
    cosine = [0.1 * (1 + np.cos(np.pi * i / 8)) for i in range(8)]  # from the peak after warm-up, towards 0
    assert whole[4:] == pytest.approx(cosine, rel=1e-3, abs=1e-6) and whole[-1] < 0.01
    resumed = rates({"learning_rate": 0.2, "warmup": "1ep", "schedule": "cosine"}, epochs=3, start=4, steps=8)
    assert resumed["rates"] == pytest.approx(whole[4:], rel=1e-3, abs=1e-6) and resumed["iterations"] == 12


def test_exponential_decays_once_per_epoch_as_mobilenet_v2_was_trained():
    got = rates({"optimizer": "rmsprop", "learning_rate": 0.045, "schedule": "exponential", "gamma": 0.98},
                epochs=2)["rates"]
    assert got == pytest.approx([0.045] * 4 + [0.045 * 0.98] * 4, rel=1e-3)
    assert get_workload("imagenet").recipe.optimizer == "rmsprop"


def random_batches(size: int, classes: int = 3):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, size, size, 3), dtype=np.uint8)
    return tf.data.Dataset.from_tensors((images, rng.integers(0, classes, 16))).repeat()


@pytest.mark.parametrize("masking, workload", [("gradient", SMOKE), ("constraint", TINY)])
def test_weight_decay_leaves_masked_weights_exactly_zero_while_the_rest_train(masking, workload):
    """Decay applies to every kernel, masked ones included (w -= lr * wd * w), and 0 stays 0; the
    rates test above shows it applied, step by step. MobileNetV2 (BatchNormalization behind every
    kernel) with the default masking, LeNet with the other."""
    model = build_model(workload, 3, seed=1)
    masks = model_masks(model, MaskSpec("layer", 0.7))
    compile_model(model, Recipe(learning_rate=0.01, weight_decay=0.5, label_smoothing=0.1), ScheduleLength(1, 4),
                  masks=masks, masking=masking)
    assert float(model.optimizer.weight_decay) == 0.5
    before = kernel_values(model)
    model.fit(random_batches(workload.image_size), epochs=1, steps_per_epoch=4, verbose=0, shuffle=False)
    after = kernel_values(model)
    assert masked_nonzero_count(model, masks) == 0
    changed = sum(int(np.count_nonzero(after[n][m] != before[n][m])) for n, m in masks.items())
    assert changed > 0.9 * sum(int(m.sum()) for m in masks.values())


def test_a_ticket_starts_at_its_rewind_step_and_trains_the_steps_that_remain_built_or_kept(tiny_data):
    setup = TrainSetup(source=open_source(str(tiny_data)), workload=TINY, placement=place(PlacementSpec()), epochs=3)
    model = build_model(TINY, setup.num_classes, seed=2)
    masks = model_masks(model, MaskSpec("layer", 0.5))
    built = ticket_model(setup, masks, "gradient", seed=2, start_step=3)  # mid-epoch: epochs of 4 steps
    assert int(built.optimizer.iterations.numpy()) == 3 and setup.steps_per_epoch == 4
    curve = setup.fit_steps(built, setup.total_steps - 3, validate=True).curve  # two whole epochs, then one step
    assert int(built.optimizer.iterations.numpy()) == setup.total_steps == 12
    assert [steps for steps, _ in curve] == [4, 8, 9]  # validated after each epoch, the short last one too
    kept = ticket_model(setup, masks, "gradient", seed=2)
    assert kept is built and int(kept.optimizer.iterations.numpy()) == 0


@pytest.mark.parametrize("fields, message", [
    ({"learning_rate": 0.0}, "--lr"),
    ({"schedule": "linear"}, "learning-rate schedule"),
    ({"schedule": "step"}, "--milestones"),
    ({"milestones": (1,)}, "--milestones"),
    ({"warmup": "3 epochs"}, "--lr-warmup"),
    ({"gamma": 1.5}, "--gamma"),
    ({"weight_decay": -1.0}, "--weight-decay"),
    ({"gamma": 0.5}, "--gamma applies to --lr-schedule step or exponential, not cosine"),
])
def test_bad_recipe_values_are_refused_by_name(fields, message):
    with pytest.raises(UserInputError, match=message):
        SMOKE.with_recipe(**fields)


def test_a_recipe_must_fit_in_its_training():
    recipe = Recipe(schedule="step", milestones=(2,), warmup="1ep")
    recipe.check_length(epochs=3, steps_per_epoch=10)
    with pytest.raises(UserInputError, match="--milestones"):
        recipe.check_length(epochs=2, steps_per_epoch=10)
    with pytest.raises(UserInputError, match="--lr-warmup 1ep"):
        Recipe(warmup="1ep").check_length(epochs=1, steps_per_epoch=10)


# The command line's overrides of every field, and the recipe they make: tests/test_without_tensorflow.py
# gives them to `harness run` and `harness lth` and finds this recipe in the record, run.json, every job
# result, dense.json and the summary.
OVERRIDES = ("--optimizer", "rmsprop", "--lr", "0.02", "--lr-warmup", "1it", "--lr-schedule", "step",
             "--milestones", "1", "--gamma", "0.5", "--weight-decay", "0.0001", "--label-smoothing", "0.1",
             "--batch", "8")
OVERRIDDEN = {"optimizer": "rmsprop", "learning_rate": 0.02, "momentum": 0.9, "warmup": "1it", "schedule": "step",
              "milestones": [1], "gamma": 0.5, "weight_decay": 0.0001, "label_smoothing": 0.1, "batch_size": 8}


REBUILT = """
import base64, json, sys
from pyspark import cloudpickle
import keras
cloudpickle.loads(base64.b64decode(sys.argv[2]))  # Elephas' custom objects, shipped with each Spark task
optimizer = keras.optimizers.deserialize(json.loads(sys.argv[1]))
print(json.dumps(float(keras.ops.convert_to_numpy(optimizer._learning_rate(3)))))
"""


def test_the_schedule_reaches_a_process_that_rebuilds_the_optimizer_from_its_config():
    """What Elephas' Spark workers do, in a fresh process that never imported the schedule's module."""
    import base64

    import keras
    from pyspark import cloudpickle

    from pipelines.train.recipe_schedule import custom_objects, learning_rate_schedule

    schedule = learning_rate_schedule(Recipe(learning_rate=0.01, schedule="cosine"), ScheduleLength(2, 3))
    config = keras.optimizers.serialize(keras.optimizers.SGD(learning_rate=schedule))
    shipped = base64.b64encode(cloudpickle.dumps(custom_objects())).decode()
    result = subprocess.run([sys.executable, "-c", REBUILT, json.dumps(config), shipped], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == pytest.approx(0.005)  # half-way down the cosine
