"""Profiling a tiny Keras fit on the CPU and summarising it with xprof: input-bound or not, top ops;
on TensorFlow in this process, on JAX in a subprocess of its own (Keras' backend is fixed per process)."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.profiler import profile_callback, summarize_profile
from pipelines.errors import UserInputError

WARMUP, STEPS, BATCH = 4, 5, 16


def tiny_model():
    import keras

    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(4)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def dataset(slow: bool):
    """Four batches, repeated: cached and prefetched, or each batch held up 50 ms in Python."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices(
        (rng.random((4 * BATCH, 16, 16, 3), dtype=np.float32), rng.integers(0, 4, 4 * BATCH))).batch(BATCH)
    if not slow:
        return data.cache().repeat().prefetch(tf.data.AUTOTUNE)

    def sleepy(images, labels):
        time.sleep(0.05)
        return images, labels

    def held_up(images, labels):
        images, labels = tf.py_function(sleepy, [images, labels], [tf.float32, tf.int64])
        return tf.ensure_shape(images, [BATCH, 16, 16, 3]), tf.ensure_shape(labels, [BATCH])

    return data.repeat().map(held_up)


def profiled_fit(logdir, slow: bool, fit_steps: int = WARMUP + STEPS + 1):
    tiny_model().fit(dataset(slow), epochs=1, steps_per_epoch=fit_steps, verbose=0, shuffle=False,
                     callbacks=[profile_callback(logdir, WARMUP, STEPS)])


@pytest.fixture(scope="module")
def summaries(tmp_path_factory):
    """One profiled fit per pipeline, summarised once."""
    result = {}
    for name in ("slow", "fast"):
        logdir = tmp_path_factory.mktemp(f"profile-{name}")
        profiled_fit(logdir, slow=name == "slow")
        result[name] = summarize_profile(logdir, "tensorflow", top=5)
    return result


def test_a_slow_pipeline_is_input_bound_and_a_cached_one_is_not(summaries):
    slow, fast = summaries["slow"], summaries["fast"]
    assert slow["steps"] == fast["steps"] == STEPS
    assert slow["input_bound_pct"] > 50
    assert fast["input_bound_pct"] < 25
    # The figure is the analyzer's own, as its verdict states it when input is what matters.
    stated = re.search(r"([\d.]+)% of the total step time sampled is waiting for input", slow["input_verdict"])
    assert slow["input_bound_pct"] == pytest.approx(float(stated.group(1)), abs=0.15)


def test_top_ops_are_sorted_by_self_time_and_show_where_the_time_goes(summaries):
    for summary in summaries.values():
        ops = summary["top_ops"]
        assert 0 < len(ops) <= 5
        times = [op["self_time_us"] for op in ops]
        assert all(t > 0 for t in times) and times == sorted(times, reverse=True)
        assert all(0 < op["self_time_share"] <= 1 for op in ops)
        assert summary["xplane"].endswith(".xplane.pb")
    assert "EagerPyFunc" in {op["type"] for op in summaries["slow"]["top_ops"]}  # the sleep
    assert any("Conv2D" in op["type"] for op in summaries["fast"]["top_ops"])
    for summary in summaries.values():  # a CPU trace: no accelerator figures, nothing missing
        assert summary["device"] is None and summary["notes"] == [] and summary["step_ms_mean"] > 0


JAX_FIT = """
import json, sys, time
import numpy as np
from harness.profiler import profile_callback, summarize_profile
from test_profiler import BATCH, STEPS, WARMUP, tiny_model

rng = np.random.default_rng(0)
images, labels = rng.random((BATCH, 16, 16, 3), dtype=np.float32), rng.integers(0, 4, BATCH)

def held_up():  # each batch held up 50 ms in Python, as a starved pipeline is
    while True:
        time.sleep(0.05)
        yield images, labels

tiny_model().fit(held_up(), epochs=1, steps_per_epoch=WARMUP + STEPS + 1, verbose=0,
                 callbacks=[profile_callback(sys.argv[1], WARMUP, STEPS)])
print(json.dumps(summarize_profile(sys.argv[1], "jax", top=5)))
"""


def test_a_jax_profile_finds_the_steps_and_says_what_it_cannot_measure(tmp_path):
    """jax.profiler's steps are found by the same converters, each spanning its wait for data; the
    input-bound share, which xprof reads from tf.data's ops only, is left out with a note."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                                               os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", JAX_FIT, str(tmp_path)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["backend"] == "jax" and summary["steps"] == STEPS
    assert Path(summary["xplane"]).relative_to(tmp_path).parts[:2] == ("plugins", "profile")  # TensorBoard's layout
    assert summary["step_ms_mean"] >= 50  # the 50 ms wait for each batch lies inside its step marker
    assert summary["input_bound_pct"] is None and summary["input_verdict"] == ""
    assert any("no input-bound share" in note and "throughputs" in note for note in summary["notes"])
    assert summary["top_ops"] == [] and any("no per-op times" in note for note in summary["notes"])
    assert summary["device"] is None


def test_a_fit_shorter_than_the_profiled_steps_still_stops_the_profiler(tmp_path):
    import tensorflow as tf

    profiled_fit(tmp_path / "short", slow=False, fit_steps=WARMUP + 2)
    assert summarize_profile(tmp_path / "short", "tensorflow")["steps"] == 2
    tf.profiler.experimental.start(str(tmp_path / "again"))  # raises if one were still running
    tf.profiler.experimental.stop()


def test_a_folder_without_a_profile_is_the_users_mistake(tmp_path):
    with pytest.raises(UserInputError, match=re.escape(str(tmp_path))):
        summarize_profile(tmp_path, "tensorflow")
