"""The verdict: a real fit on a deliberately slow pipeline is judged input-bound, with the advice that follows."""

import time

import numpy as np
import pytest

from harness.timing import StepClock, keras_step_callback
from harness.verdict import judge, measure_model_ceiling, measure_supply

BATCH = 16
PAUSE_S = 0.05  # per batch: a pipeline that can supply at most 320 images/s


@pytest.fixture(scope="module")
def tiny_model_and_data():
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (BATCH, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, BATCH)
    in_memory = tf.data.Dataset.from_tensors((images, labels)).repeat()

    def pause(x, y):
        time.sleep(PAUSE_S)
        return x, y

    slow = in_memory.map(lambda x, y: tf.py_function(pause, [x, y], (tf.uint8, tf.int64)))
    slow = slow.map(lambda x, y: (tf.ensure_shape(x, images.shape), tf.ensure_shape(y, labels.shape)))
    model = keras.Sequential([keras.Input((8, 8, 3), dtype="uint8"), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(4)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, slow, in_memory


def test_slow_pipeline_is_judged_input_bound(tiny_model_and_data):
    model, slow, in_memory = tiny_model_and_data
    clock = StepClock()
    model.fit(slow, epochs=1, steps_per_epoch=12, shuffle=False, verbose=0, callbacks=[keras_step_callback(clock)])
    run = clock.stats(2, BATCH).images_per_s
    ceiling = measure_model_ceiling(model, in_memory, steps=10, warmup=2, batch_size=BATCH)
    supply = measure_supply(slow, steps=6, warmup=1, batch_size=BATCH)
    assert supply < BATCH / PAUSE_S * 1.05 < ceiling
    verdict = judge(run, ceiling, supply, "cpu", "naive")
    assert verdict["bound"] == "input" and verdict["input_wait_source"] == "throughputs"
    assert verdict["input_wait_pct"] > 50  # the tiny model's step is far shorter than the pause
    assert verdict["advice"].startswith(f"input-bound: {verdict['input_wait_pct']:.0f}% of step time waits for data")
    assert verdict["advice"].endswith("try cpu-parallel")


def test_profile_share_wins_over_the_estimate():
    verdict = judge(run=50, ceiling=100, supply=60, device="gpu4", pipeline="vectorized", input_bound_pct=38.0)
    assert verdict["input_wait_pct"] == 38.0 and verdict["input_wait_source"] == "profile"
    assert verdict["advice"].startswith("input-bound: 38% of step time waits for data")
    assert verdict["advice"].endswith("try gpu4-offline")


@pytest.mark.parametrize("run, ceiling, supply, pipeline, bound, advice", [
    (95, 100, 400, "parallel", "model", "more compute would: try gpu1"),
    (60, 100, 400, "parallel", "shared-cores", "try cpu-offline to decode ahead of time"),
    (60, 100, 400, "offline", "shared-cores", "give each worker more cores"),
    (50, 100, 60, "offline", "input", "add shard readers or faster storage"),
])
def test_bounds_and_advice(run, ceiling, supply, pipeline, bound, advice):
    verdict = judge(run, ceiling, supply, "cpu", pipeline)
    assert verdict["bound"] == bound and verdict["advice"].endswith(advice)
    assert (verdict["input_wait_pct"] is None) == (bound != "input")
