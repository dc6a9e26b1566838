"""Fitting for a number of steps so that a stop anywhere costs nothing and a rerun continues exactly.

A training of `steps` optimizer steps is Keras' `fit` over epochs of `steps_per_epoch` batches,
the last one cut short. With a `TrainingState` (pipelines.train.resume) it first loads the newest
saved state, then trains only the steps that remain, reading the data stream from the position the
state was saved at (pipelines.data.online: each epoch's order is a function of the seed and the
epoch, so nothing before the position is replayed). A training resumed inside an epoch finishes that
epoch in one `fit` (the epoch's remaining batches), then fits the whole epochs after it, so epoch
ends, validations and the learning-rate schedule fall on the steps they fall on uninterrupted.

The state is saved every `save_every` steps, at the training's end (a stop during the evaluation
that follows, or a stability pair's second copy, then loses nothing), and whenever a stop was asked
for (pipelines.stop):
at a step's end, or, when that step ends an epoch, after the epoch's validation, so that a state
never lacks a validation point the uninterrupted run would have. Then the stop is honoured.
"""

from __future__ import annotations

import contextlib
import time

from pipelines import stop
from pipelines.train.resume import PROGRESS_SECONDS, Progress, TrainingState


def segments(start: int, steps: int, per_epoch: int) -> list[tuple[int, int, int, int]]:
    """The `fit` calls that train steps `start` to `steps`: (initial epoch, epochs, steps per epoch,
    first step) each; a start inside an epoch first finishes that epoch."""
    if start >= steps:
        return []
    epoch, into = divmod(start, per_epoch)
    calls = []
    if into:
        calls.append((epoch, epoch + 1, per_epoch - into, start))
        epoch += 1
    if epoch * per_epoch < steps:
        calls.append((epoch, -(-steps // per_epoch), per_epoch, epoch * per_epoch))
    return calls


def fit_resumably(setup, model, steps: int, callbacks=(), validate: bool = False,
                  state: TrainingState | None = None, log=lambda line: None) -> Progress:
    """Train `model` (compiled by `setup`) until `steps` steps are trained; see the module's docstring.
    Callbacks with a `start_at(step)` method learn the step the fit starts from."""
    import keras

    progress = None
    if state is not None:
        with setup.placement.strategy.scope():
            progress = state.restore(model, log)
        if progress is not None:
            log(f"{state.name}: resumed at step {progress.step} of {steps}")
    progress = progress or Progress()
    for callback in callbacks:
        if hasattr(callback, "start_at"):
            callback.start_at(progress.step)
    every = setup.save_every.steps(setup.steps_per_epoch)

    class Steps(keras.callbacks.Callback):
        """Counts the steps, ends the fit after the last, validates after each epoch, saves the state."""

        def __init__(self):
            super().__init__()
            self.began, self.before = time.perf_counter(), progress.seconds
            self.saved_at, self.noted = progress.step, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            progress.step += 1
            if state is not None:
                stop.rehearse(state.name, progress.step)
            if progress.step >= steps:
                self.model.stop_training = True
            epoch_end = progress.step % setup.steps_per_epoch == 0 or progress.step >= steps
            if not epoch_end:  # an epoch's last step saves after the epoch's validation
                self._maybe_save()

        def on_epoch_end(self, epoch, logs=None):
            if validate:  # `self.model` holds the step's weights (Keras syncs JAX's state for a callback)
                progress.curve.append((progress.step, setup.evaluate(self.model)["top1"]))
            self._maybe_save()

        def _maybe_save(self):
            progress.seconds = self.before + time.perf_counter() - self.began
            if state is None:
                return
            asked = stop.received() is not None
            due = progress.step >= steps or progress.step // every > self.saved_at // every
            if asked or due:
                saving = time.perf_counter()
                state.save(self.model, progress)
                progress.saves += 1
                progress.save_seconds += time.perf_counter() - saving
                self.saved_at = progress.step
                stop.honour()
            elif time.perf_counter() - self.noted > PROGRESS_SECONDS:
                state.note_progress(progress.step, progress.seconds)
                self.noted = time.perf_counter()

    counter = Steps()
    with stop.at_step_boundaries() if state is not None else contextlib.nullcontext():
        for initial, epochs, per_epoch, first in segments(progress.step, steps, setup.steps_per_epoch):
            dataset = setup.train_dataset(start_step=first)[0]
            setup.fit_dataset(model, dataset, initial_epoch=initial, epochs=epochs, steps_per_epoch=per_epoch,
                              callbacks=[*callbacks, counter])
    return progress

