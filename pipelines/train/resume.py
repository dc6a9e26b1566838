"""A training's resumable state: everything its outcome depends on, saved at an interval and on a stop.

One state is one `.npz` file, `FOLDER/state-<step>.npz`, written under a temporary name and renamed
(pipelines.atomic): complete or absent. It holds every variable of the model (weights, BatchNorm's
statistics, random-seed states) and of its optimizer (the step counter the learning-rate schedule
reads, momentum and other slots, a loss scale, and the mask variables, which the optimizer owns:
pipelines.train.masking), in the order the rebuilt model lists them, and a JSON record: the steps
trained (which fixes the position in the data: pipelines.data.online), the validation curve so far,
the training seconds so far, and each earlier resume. The last two states are kept; a state that does
not read back whole (a damaged or truncated file) gives way to the one before it.

A progress file (`progress.json`) is rewritten every second with the step reached: after a
SIGKILL, the next run reads from it how many steps it trains again (those since the last state), and
their seconds.
"""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines import atomic
from pipelines.errors import UserInputError

KEEP = 2  # states kept: the newest, and the one before in case the newest is damaged
PROGRESS_SECONDS = 1.0  # how often the step reached is written down
_NAME = re.compile(r"state-(\d+)\.npz")


@dataclass(frozen=True)
class SaveEvery:
    """The save interval: `N` epochs, or `Nit` optimizer steps (`--save-every`)."""

    count: int = 1
    unit: str = "epochs"  # or "steps"

    @classmethod
    def parse(cls, text: str) -> SaveEvery:
        match = re.fullmatch(r"\s*(\d+)\s*(it|ep)?\s*", str(text))
        if not match or int(match.group(1)) < 1:
            raise UserInputError(f"--save-every {text!r}: give a number of epochs (1, 2ep) or of steps (500it), "
                                 "at least 1")
        return cls(int(match.group(1)), "steps" if match.group(2) == "it" else "epochs")

    def steps(self, steps_per_epoch: int) -> int:
        return self.count if self.unit == "steps" else self.count * steps_per_epoch

    def __str__(self) -> str:
        return f"{self.count}it" if self.unit == "steps" else str(self.count)


@dataclass
class Progress:
    """Where a training stands: what a state records beside the variables."""

    step: int = 0  # optimizer steps trained since the training's start
    curve: list = field(default_factory=list)  # [(steps trained, validation top-1)] so far
    seconds: float = 0.0  # training seconds so far, over every process that trained it
    resumes: list = field(default_factory=list)  # one record per resume: at which step, what was redone
    saves: int = 0  # states saved, and their seconds (the cost of being resumable)
    save_seconds: float = 0.0

    def as_json(self) -> dict:
        return {"step": self.step, "curve": [list(p) for p in self.curve], "seconds": self.seconds,
                "resumes": self.resumes, "saves": self.saves, "save_seconds": self.save_seconds}


class TrainingState:
    """The resumable states of one training, in `folder` (one folder per training); `name` says which
    training it is (default: the folder's name)."""

    def __init__(self, folder: Path, name: str | None = None):
        self.folder = Path(folder)
        self.name = name or self.folder.name

    def save(self, model, progress: Progress) -> Path:
        arrays = {f"v{i}": np.asarray(value) for i, value in enumerate(_values(model))}
        arrays["record"] = np.array(json.dumps(progress.as_json()))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path = self.folder / f"state-{progress.step:09d}.npz"
        atomic.write_bytes(path, buffer.getvalue())
        for old in self._states()[KEEP:]:
            old.unlink(missing_ok=True)
        return path

    def restore(self, model, log=lambda line: None) -> Progress | None:
        """Load the newest state that reads back whole into `model` (compiled, its optimizer built
        here if it is not yet); None if there is none. Records the resume in the returned progress."""
        for path in self._states():
            try:
                values, record = _read(path)
                _assign(model, values)
            except Exception as error:  # a damaged or foreign file: the one before it may do
                log(f"{path} does not read back ({type(error).__name__}: {error}): trying the state before it")
                continue
            progress = Progress(**{**record, "curve": [tuple(p) for p in record["curve"]]})
            progress.resumes.append(self._redone(progress))
            return progress
        return None

    def note_progress(self, step: int, seconds: float) -> None:
        atomic.write_json(self.folder / "progress.json", {"step": step, "seconds": seconds})

    def reached(self) -> dict:
        """The progress last written down (`step`, `seconds`); empty before any was, or if unreadable."""
        try:
            return json.loads((self.folder / "progress.json").read_bytes())
        except (OSError, ValueError):
            return {}

    def clear(self) -> None:
        """Remove every state: the training's result is written, nothing will resume it."""
        for path in [*self._states(), self.folder / "progress.json"]:
            path.unlink(missing_ok=True)
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()

    def _redone(self, progress: Progress) -> dict:
        """The steps and seconds trained after the state and lost (a SIGKILL, a crash): the run
        before this one wrote down how far it got."""
        reached = self.reached()
        steps = max(0, reached.get("step", progress.step) - progress.step)
        per_step = reached.get("seconds", 0.0) / reached["step"] if reached.get("step") else 0.0
        return {"step": progress.step, "redone_steps": steps, "redone_seconds": round(steps * per_step, 3),
                "at": time.time()}

    def _states(self) -> list[Path]:
        """The saved states, newest first."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _NAME.fullmatch(p.name))]
        return [path for _, path in sorted(found, reverse=True)]


def _variables(model) -> list:
    """The model's variables and its optimizer's, built if it is not yet (a training builds it before
    its first step: a state saved or loaded before then has the same variables as one after)."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return [*model.variables, *model.optimizer.variables]


def _values(model) -> list[np.ndarray]:
    import keras

    return [keras.ops.convert_to_numpy(variable) for variable in _variables(model)]


def _read(path: Path) -> tuple[list[np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as archive:  # every array is read: zip's CRC checks each
        record = json.loads(str(archive["record"]))
        values = [archive[f"v{i}"] for i in range(len(archive.files) - 1)]
    return values, record


def _assign(model, values: list[np.ndarray]) -> None:
    variables = _variables(model)
    if len(values) != len(variables):
        raise ValueError(f"{len(values)} arrays for {len(variables)} variables")
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{variable.path}: shape {value.shape}, expected {tuple(variable.shape)}")
    for variable, value in zip(variables, values):
        variable.assign(value)
