"""Weights saved at initialization, at each point of a rewind grid, and at the end of dense training.

`CKPT/epoch-000.weights.h5` is the initialization, `epoch-NNN` the weights after N epochs,
`step-NNNNNNN` after N optimizer steps (pipelines.lth.rewind), and `final.weights.h5` the end; each has a JSON sidecar with what a job elsewhere needs to rebuild the
model and reload them (workload, classes, seed, epoch). The optimizer's state is never used: Keras
saves it in the weights file of a compiled model, but every retraining resets the optimizer before
training from the rewound weights (pipelines.train.warm), as the late-resetting protocol does,
and the sidecar says so. Both files are written under temporary names unique to the writer and
renamed, the sidecar last, so a sidecar always names complete weights.

The weights are serialized into memory first and written with one plain file write: h5py writing
straight to a full disk reports the failure only while closing the file, from a destructor whose
exception is ignored, so `model.save_weights` returns normally and leaves a truncated file (or
the process segfaults on exit). A plain write raises ENOSPC, naming the file, like any other.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from pipelines import atomic
from pipelines.errors import UserInputError


def checkpoint_name(point) -> str:
    """`point`: None (the end), an epoch, or anything naming its own checkpoint (a RewindPoint)."""
    if point is None:
        return "final"
    return f"epoch-{point:03d}" if isinstance(point, int) else point.checkpoint


def paths(folder: Path, point) -> tuple[Path, Path]:
    """The checkpoint's weights file and its sidecar."""
    name = checkpoint_name(point)
    return Path(folder) / f"{name}.weights.h5", Path(folder) / f"{name}.json"


def save_checkpoint(model, folder: Path, point, metadata: dict) -> Path:
    name = checkpoint_name(point)
    weights, sidecar = paths(folder, point)
    atomic.write_bytes(weights, weights_bytes(model))
    atomic.write_json(sidecar, {**metadata, "checkpoint": name, "weights": weights.name,
                                                "optimizer_state": "never used: retraining starts from a reset optimizer"})
    return weights


def weights_bytes(model) -> bytes:
    """The bytes `model.save_weights` would write to a `.weights.h5` file, made in memory. Keras 3
    writes its weights store to a BytesIO as it does for `.keras` archives (its H5IOStore), through
    the same state walk as `save_weights`; `load_weights` reads the file back as usual."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    finally:
        store.close()
    return buffer.getvalue()


def checkpoint_problem(folder: Path, point) -> str | None:
    """Why the checkpoint cannot be loaded (absent, an unreadable sidecar, weights that do not read
    back), or None. Reads every array, so a truncated weights file is caught here and not in a job."""
    import h5py

    def read_every_array(_, item) -> None:  # returning anything else would stop the walk
        if isinstance(item, h5py.Dataset):
            item[()]

    sidecar = Path(folder) / f"{checkpoint_name(point)}.json"
    if not sidecar.is_file():
        return f"{sidecar} is missing"
    try:
        weights = Path(folder) / json.loads(sidecar.read_bytes())["weights"]
        with h5py.File(weights, "r") as handle:
            handle.visititems(read_every_array)
    except Exception as error:  # JSON, key and HDF5 errors alike: the files are not what was written
        return f"{sidecar.with_suffix('')} is damaged ({type(error).__name__}: {error})"
    return None


def load_checkpoint(model, folder: Path, point) -> dict:
    """Load the weights into `model` (built for the same workload); returns the sidecar."""
    name = checkpoint_name(point)
    sidecar = Path(folder) / f"{name}.json"
    if not sidecar.is_file():
        raise UserInputError(f"no checkpoint {name} in {folder}: rewind points must be in the dense run's grid")
    metadata = json.loads(sidecar.read_text())
    model.load_weights(str(Path(folder) / metadata["weights"]))
    return metadata


def rewind_callback(folder: Path, grid: dict, metadata: dict):
    """A Keras callback saving the weights after the steps in `grid` (step count from 1 -> the point
    it names, pipelines.lth.rewind), counting the steps of the training from its start (a resumed fit
    tells it where it starts: `start_at`)."""
    import keras

    class RewindCheckpoints(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps = 0

        def start_at(self, step: int) -> None:
            self.steps = step

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps in grid:
                save_checkpoint(self.model, folder, grid[self.steps], {**metadata, "step": self.steps})

    return RewindCheckpoints()
