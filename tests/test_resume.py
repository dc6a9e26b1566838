"""Exact resume: a training stopped at any step continues to the very weights, top-1 and loss of an
uninterrupted one (pipelines.train.resume, pipelines.train.resumable_fit), on TensorFlow and on JAX;
states that do not read back give way to the one before; the save interval's spelling.

The stop here is a crash right after the state of step k was saved (a callback raising before step
k + 1, `--save-every 1it`); the stop signals themselves, and a rerun in a fresh process of every
executor, are tests/test_preemption.py's.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines.errors import UserInputError
from pipelines.train.resumable_fit import segments
from pipelines.train.resume import Progress, SaveEvery, TrainingState

# Three epochs of four steps (lenet-smoke on tiny_data); each case trains uninterrupted, then stopped
# after step k and resumed, and prints digests of what each ended with.
SCRIPT = """
import hashlib, json, sys
from pathlib import Path
import numpy as np
from pipelines.data.shards import open_source
from pipelines.lth.masks import MaskSpec, model_masks
from pipelines.train.placement import PlacementSpec, place
from pipelines.train.resume import SaveEvery, TrainingState
from pipelines.train.trainer import TrainSetup
from pipelines.train.warm import ticket_model
from pipelines.train.workloads import get_workload

data, backend, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
placement = place(PlacementSpec(backend=backend), deterministic=True)
setup = TrainSetup(source=open_source(data), workload=get_workload("lenet-smoke"), placement=placement, epochs=3,
                   save_every=SaveEvery(1, "steps"))
import keras

class Crash(Exception):
    pass

class CrashAfter(keras.callbacks.Callback):
    def __init__(self, k):
        super().__init__()
        self.k, self.step = k, 0
    def start_at(self, step):
        self.step = step
    def on_train_batch_begin(self, batch, logs=None):
        if self.step == self.k:
            raise Crash()
    def on_train_batch_end(self, batch, logs=None):
        self.step += 1

def dense():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    return setup.model()

masks = model_masks(dense(), MaskSpec("layer", 0.5))
def ticket():  # a kept (warm) model, rewound to step 2 of the schedule
    return ticket_model(setup, masks, "gradient", seed=1, start_step=2)

def train(make, state, steps, callbacks=()):
    model = make()
    progress = setup.fit_steps(model, steps, list(callbacks), validate=True, state=state)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())).hexdigest()
    return {"weights": digest, "evaluation": setup.evaluate(model), "curve": progress.curve,
            "resumes": [r["step"] for r in progress.resumes], "iterations": int(model.optimizer.iterations.numpy())}

out = {}
# the warm ticket (rewound, masked) inside its second epoch: the data's position, the mask, the schedule's
# offset; the dense run at the end of its second epoch: the validation curve
for name, make, steps, k in (("dense", dense, 12, 8), ("ticket", ticket, 10, 5)):
    uninterrupted = train(make, None, steps)
    state = TrainingState(folder / f"{name}-{k}")
    try:
        train(make, state, steps, [CrashAfter(k)])
    except Crash:
        pass
    out[f"{name}-{k}"] = {"uninterrupted": uninterrupted, "resumed": train(make, state, steps)}
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_training_stopped_at_a_step_and_resumed_ends_bit_for_bit_where_an_uninterrupted_one_does(
        tiny_data, tmp_path, backend):
    environment = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_data), backend, str(tmp_path)], env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    cases = json.loads(result.stdout.splitlines()[-1])
    assert set(cases) == {"dense-8", "ticket-5"}
    for name, case in cases.items():
        k = int(name.split("-")[1])
        assert case["resumed"]["resumes"] == [k], name  # it did resume, at the step stopped
        for key in ("weights", "evaluation", "curve", "iterations"):
            assert case["resumed"][key] == case["uninterrupted"][key], (name, key)
    assert cases["ticket-5"]["uninterrupted"]["iterations"] == 12  # rewound to step 2, then ten steps


def test_a_damaged_newest_state_gives_way_to_the_one_before(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    state = TrainingState(tmp_path / "t")
    for step in (1, 2, 3):
        model.layers[0].kernel.assign(np.full((3, 2), float(step), "float32"))
        state.save(model, Progress(step=step, curve=[(step, 0.5)]))
    assert sorted(p.name for p in state.folder.iterdir()) == ["state-000000002.npz", "state-000000003.npz"]  # two kept
    newest = state.folder / "state-000000003.npz"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated, as by a crash mid-copy
    lines = []
    progress = state.restore(model, lines.append)
    assert progress.step == 2 and progress.curve == [(2, 0.5)]
    assert np.all(keras.ops.convert_to_numpy(model.layers[0].kernel) == 2.0)
    assert "state-000000003.npz does not read back" in lines[0]
    (state.folder / "state-000000002.npz").write_bytes(b"not a state")
    assert state.restore(model, lines.append) is None  # nothing readable: the training starts over
    state.clear()
    assert not state.folder.exists()


def test_a_state_of_another_network_is_not_loaded(tmp_path):
    import keras

    small = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    large = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    for model in (small, large):
        model.compile(optimizer="adam", loss="mse")
    state = TrainingState(tmp_path / "t")
    state.save(small, Progress(step=4))
    lines = []
    assert state.restore(large, lines.append) is None
    assert "shape" in lines[0]


def test_the_redone_steps_after_a_kill_come_from_the_progress_written_down(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    state = TrainingState(tmp_path / "t")
    state.save(model, Progress(step=4, seconds=2.0))
    state.note_progress(step=10, seconds=5.0)  # then SIGKILL: steps 5-10 are lost
    resume = state.restore(model).resumes[-1]
    assert resume["step"] == 4 and resume["redone_steps"] == 6 and resume["redone_seconds"] == pytest.approx(3.0)


@pytest.mark.parametrize("text, expected", [("1", SaveEvery(1, "epochs")), ("2ep", SaveEvery(2, "epochs")),
                                            ("500it", SaveEvery(500, "steps"))])
def test_the_save_interval_is_epochs_or_steps(text, expected):
    assert SaveEvery.parse(text) == expected
    assert SaveEvery.parse(str(expected)) == expected
    assert expected.steps(35) == {"epochs": expected.count * 35, "steps": expected.count}[expected.unit]


@pytest.mark.parametrize("text", ["0", "-1", "2.5", "soon", ""])
def test_a_save_interval_that_is_none_is_refused_in_one_line(text):
    with pytest.raises(UserInputError, match="--save-every"):
        SaveEvery.parse(text)


def test_a_resumed_fit_finishes_its_epoch_then_fits_whole_ones():
    assert segments(0, 12, 4) == [(0, 3, 4, 0)]
    assert segments(5, 12, 4) == [(1, 2, 3, 5), (2, 3, 4, 8)]  # the rest of epoch 2, then epoch 3
    assert segments(8, 12, 4) == [(2, 3, 4, 8)]
    assert segments(5, 7, 4) == [(1, 2, 3, 5)]  # a last epoch cut short: the callback stops at 7
    assert segments(12, 12, 4) == []


def test_each_epoch_order_is_a_function_of_the_seed_and_the_epoch_and_a_start_skips_into_it():
    from pipelines.data.online.common import PipelineSpec, epoch_orders, index_batches

    spec = PipelineSpec(image_size=8, batch_size=4, seed=3)
    stream = np.concatenate([next(orders) for orders in [epoch_orders(10, spec)] for _ in range(3)])
    for start in (0, 3, 10, 17):
        later = epoch_orders(10, PipelineSpec(image_size=8, batch_size=4, seed=3, start=start))
        assert np.array_equal(np.concatenate([next(later) for _ in range(3)])[: 30 - start], stream[start:])
    resumed = index_batches(10, PipelineSpec(image_size=8, batch_size=4, seed=3, start=8))
    assert np.array_equal(next(resumed), stream[8:12])  # batch 3 of the stream, across the epoch's end
