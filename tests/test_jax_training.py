"""Training on Keras' JAX backend: placements, masks held in the step, warm models, checkpoints, searches.

Keras fixes its backend when it is first imported, and this test process imports it on TensorFlow,
so JAX runs in processes of its own: a script (`core_on_jax`) for the training core, the installed
`harness lth --backend jax` for whole searches.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from pipelines.errors import UserInputError
from pipelines.executors import share
from pipelines.train.fits import FitSettings
from tests.conftest import HARNESS

# The training core in one process on JAX. Tickets X (layer 50%) then Y (layer 80%) on one kept
# model: Y prunes weights X keeps, so a mask compiled in as a constant (X's) would let them train. Each
# masking method traces its own step, so each runs X then Y; the gradient method also runs X again,
# which must be X built afresh, bit for bit.
CORE = """
import json, sys, tempfile
import numpy as np
from pipelines.data.shards import open_source
from pipelines.lth.masks import MaskSpec, model_masks
from pipelines.train import checkpoints
from pipelines.train.masking import masked_nonzero_count
from pipelines.train.model import build_model, kernel_values
from pipelines.train.placement import PlacementSpec, place
from pipelines.train.trainer import TrainSetup
from pipelines.train.warm import ticket_model
from pipelines.train.workloads import get_workload

TINY = get_workload("lenet-smoke")
placement = place(PlacementSpec(backend="jax"), deterministic=True)
setup = TrainSetup(source=open_source(sys.argv[1]), workload=TINY, placement=placement, seed=3)
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (2 * setup.global_batch, 16, 16, 3), dtype=np.uint8)
labels = rng.integers(0, setup.num_classes, 2 * setup.global_batch)
folder, trained = tempfile.mkdtemp(), tempfile.mkdtemp()
with placement.strategy.scope():
    initial = build_model(TINY, setup.num_classes, seed=3)
checkpoints.save_checkpoint(initial, folder, 0, {})
x, y = (model_masks(initial, MaskSpec("layer", s)) for s in (0.5, 0.8))
rewound = lambda model: checkpoints.load_checkpoint(model, folder, 0)
facts = {"placement": placement.describe(), "global_batch": setup.global_batch}

def fit(model, masks, callbacks=()):
    before = kernel_values(model)
    seen = []
    import keras
    class Remember(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])
    model.fit(images, labels, batch_size=setup.global_batch, epochs=2, shuffle=False, verbose=0,
              callbacks=[*callbacks, Remember()])
    after = kernel_values(model)
    kept_moved = sum(int(np.count_nonzero(after[n][m] != before[n][m])) for n, m in masks.items())
    return {"masked_nonzero": masked_nonzero_count(model, masks), "kept_moved": kept_moved,
            "kept": int(sum(m.sum() for m in masks.values()))}, seen

gradient = ticket_model(setup, x, "gradient", load=rewound)
facts["gradient_x"], (after_epoch_1, fresh_x) = fit(gradient, x, [checkpoints.rewind_callback(trained, {2: 1}, {})])
checkpoints.save_checkpoint(gradient, trained, None, {})
facts["checkpoints_read_back"] = []
for epoch, want in ((1, after_epoch_1), (None, fresh_x)):
    with placement.strategy.scope():
        fresh = build_model(TINY, setup.num_classes, seed=99)
    checkpoints.load_checkpoint(fresh, trained, epoch)
    facts["checkpoints_read_back"].append(all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), want)))
facts["kept_model"] = ticket_model(setup, y, "gradient", load=rewound) is gradient
facts["gradient_y"], _ = fit(gradient, y)
ticket_model(setup, x, "gradient", load=rewound)
_, (_, warm_x) = fit(gradient, x)
facts["warm_x_equals_fresh_x"] = all(np.array_equal(a, b) for a, b in zip(warm_x, fresh_x))
constraint = ticket_model(setup, x, "constraint", load=rewound)
facts["constraint_x"], _ = fit(constraint, x)
ticket_model(setup, y, "constraint", load=rewound)
facts["constraint_y"], _ = fit(constraint, y)
facts["tensorflow_loaded"] = "tensorflow" in sys.modules
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def core_on_jax(tiny_data) -> dict:
    return run_on_jax(CORE, tiny_data)


# gpu4 on 4 logical host devices: a small model's fit there (MobileNetV2's step costs seconds to trace).
PLACED = """
import json, sys
import numpy as np
from pipelines.train.placement import PlacementSpec, place

placement = place(PlacementSpec(backend="jax", device="gpu4", logical_devices=4))
import keras

with placement.strategy.scope():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
batch = placement.global_batch(2)
model.fit(np.ones((2 * batch, 8), "float32"), np.zeros(2 * batch, "int64"), batch_size=batch, verbose=0)
kernel = model.layers[0].kernel.value
print(json.dumps({**placement.describe(), "batch": batch,
                  "kernel_on": sorted(str(d) for d in kernel.sharding.device_set)}))
"""


def run_on_jax(script: str, *args) -> dict:
    """The facts a script prints as its last line; `place` selects JAX and asks for its host devices itself."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *map(str, args)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_gpu4_on_logical_devices_is_data_parallel_over_four_and_says_so():
    placement = run_on_jax(PLACED)
    assert placement["backend"] == "jax" and placement["replicas"] == 4 and placement["batch"] == 8
    assert placement["devices"] == ["cpu:0", "cpu:1", "cpu:2", "cpu:3"] and placement["logical"]
    assert len(placement["kernel_on"]) == 4  # the weights replicated over the four
    assert placement["label"] == "gpu4 on logical CPU devices (not a GPU measurement)"
    assert placement["jit"] and placement["xla"] == "always on JAX" and not placement["deterministic"]


@pytest.mark.parametrize("ticket", ["gradient_x", "gradient_y", "constraint_x", "constraint_y"])
def test_masked_weights_stay_zero_on_jax_while_the_rest_train(core_on_jax, ticket):
    """Y on the model kept from X: a mask traced as a constant would have let Y's extra pruned weights train."""
    facts = core_on_jax[ticket]
    assert facts["masked_nonzero"] == 0
    assert facts["kept_moved"] > 0.25 * facts["kept"]


def test_a_warm_ticket_on_jax_equals_it_built_afresh(core_on_jax):
    assert core_on_jax["kept_model"] and core_on_jax["warm_x_equals_fresh_x"]


def test_checkpoints_on_jax_rewind_to_the_weights_they_saved(core_on_jax):
    assert core_on_jax["checkpoints_read_back"] == [True, True]


def test_the_training_core_on_jax_loads_no_tensorflow(core_on_jax):
    assert not core_on_jax["tensorflow_loaded"]


def test_workers_sharing_a_gpu_allocate_as_they_go(monkeypatch):
    monkeypatch.setattr(share, "list_gpus", lambda: [{"index": 0}])
    monkeypatch.setattr(os, "environ", dict(os.environ))  # bind_slot writes the environment: keep it to this test
    for name in ("CUDA_VISIBLE_DEVICES", *share.GROW_ON_SHARED_GPU):
        monkeypatch.delenv(name, raising=False)
    share.bind_slot(0, 1)  # alone on its GPU: the backends' own defaults
    assert not any(name in os.environ for name in share.GROW_ON_SHARED_GPU)
    slot = share.bind_slot(1, 2)
    assert slot.gpu == "0" and {name: os.environ[name] for name in share.GROW_ON_SHARED_GPU} == share.GROW_ON_SHARED_GPU


def test_elephas_is_refused_on_jax():
    with pytest.raises(UserInputError, match="--executor elephas runs on tensorflow only"):
        FitSettings("elephas").validate("jax")
    FitSettings("elephas").validate("tensorflow")


JAX_GRID = ("--backend", "jax", "--workload", "lenet-smoke", "--epochs", "2", "--rewind", "0,1", "--sparsity", "0.5,0.8",
            "--scope", "layer")


def lth(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(HARNESS), "lth", *map(str, args), "--json"], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def jax_search(tiny_data, tmp_path_factory):
    """`harness lth --backend jax`, serial: one process trains dense and then every ticket on one kept model."""
    out = tmp_path_factory.mktemp("jax") / "search"
    result = lth("--data", tiny_data, *JAX_GRID, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout.splitlines()[-1]), result.stderr


def test_a_search_on_jax_holds_every_mask_and_records_its_backend(jax_search):
    out, summary, _ = jax_search
    assert not summary["failed"] and len(summary["tickets"]) == 4
    assert all(ticket["masked_nonzero"] == 0 for ticket in summary["tickets"])  # 80% masks after a 50% one
    assert summary["placement"]["backend"] == json.loads((out / "dense.json").read_text())["placement"]["backend"] \
        == "jax"
    assert {json.loads(job.read_text())["placement"]["backend"] for job in (out / "jobs").glob("*.json")} == {"jax"}


def test_tickets_on_jax_reproduce_in_a_multiprocessing_sweep(jax_search, tiny_data, tmp_path):
    """The serial search's dense run and masks, its tickets again in a spawned worker (which inherits the
    backend): the same seed gives the same tickets, and the worker's thread share is recorded as not applied."""
    out, serial, _ = jax_search
    shutil.copytree(out, tmp_path / "search", ignore=shutil.ignore_patterns("jobs", "summary.json"))
    result = lth("--data", tiny_data, *JAX_GRID, "--out", tmp_path / "search", "--executor", "multiprocessing",
                 "--workers", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    swept = json.loads(result.stdout.splitlines()[-1])
    scores = lambda summary: {t["job_id"]: (t["top1"], t["top5"], t["loss"]) for t in summary["tickets"]}  # noqa: E731
    assert scores(swept) == scores(serial) and len(scores(swept)) == 4
    job = json.loads(next((tmp_path / "search" / "jobs").glob("*.json")).read_text())
    assert job["threads"] is None
    assert job["placement"]["backend"] == "jax" and job["placement"]["threads_not_applied"] == share.cpu_share(1)


def test_a_search_on_jax_says_only_its_own_progress_on_stderr(jax_search):
    """TensorFlow is installed here and its tf.data pipeline feeds the search: its absl logging (CUDA's
    failed initialization on a machine without a GPU) must stay muted as on the TensorFlow backend."""
    *_, stderr = jax_search
    own = ("dense:", "tickets:", "masks:", "mask ")
    assert [line for line in stderr.splitlines() if line.strip() and not line.startswith(own)] == [], stderr


def test_elephas_is_refused_on_jax_in_one_line(tiny_data, tmp_path):
    result = lth("--data", tiny_data, *JAX_GRID, "--out", tmp_path / "search", "--executor", "elephas")
    assert result.returncode == 2 and not (tmp_path / "search").exists()
    assert result.stderr.strip().splitlines() == ["Error: --executor elephas runs on tensorflow only, not --backend "
                                                  "jax: choose serial, multiprocessing or mpi"]
