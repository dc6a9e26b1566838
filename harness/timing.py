"""Step clocks: wall-clock timestamps at step boundaries, and the figures derived from them.

A step's time runs from the end of the previous step to the end of this one, so it includes waiting
for data: that wait is what the harness exists to expose.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

IMAGENET_TRAIN_IMAGES = 1_281_167


@dataclass(frozen=True)
class StepStats:
    steps: int
    images: int
    seconds: float
    images_per_s: float
    step_p50_s: float
    step_p90_s: float
    step_mean_s: float
    imagenet_epoch_s: float
    step_times_s: list[float]

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def of(cls, images: int, seconds: float, step_times: list[float]) -> "StepStats":
        """Figures for `images` processed in `seconds` of wall time, over steps that took `step_times`.

        Steps may overlap (shards written in parallel), so the rate is over the wall time, not
        over the sum of the steps.
        """
        if not step_times or seconds <= 0:
            raise ValueError("no timed steps were recorded")
        timed = np.asarray(step_times, dtype=float)
        rate = images / seconds
        return cls(
            steps=len(timed),
            images=images,
            seconds=seconds,
            images_per_s=rate,
            step_p50_s=float(np.percentile(timed, 50)),
            step_p90_s=float(np.percentile(timed, 90)),
            step_mean_s=float(timed.mean()),
            imagenet_epoch_s=IMAGENET_TRAIN_IMAGES / rate,
            step_times_s=[float(t) for t in timed],
        )


class StepClock:
    """Records the time at the start and at the end of every step."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.started_at = 0.0  # wall-clock (epoch seconds) at start

    def start(self) -> None:
        self.started_at = time.time()
        self.stamps = [time.perf_counter()]

    def tick(self) -> None:
        self.stamps.append(time.perf_counter())

    def stats(self, warmup: int, batch_size: int, timed: int | None = None) -> StepStats:
        """Figures over the `timed` steps (default: all) after the first `warmup` ones."""
        steps = np.diff(self.stamps)[warmup:]
        timed = list(steps if timed is None else steps[:timed])
        return StepStats.of(len(timed) * batch_size, float(sum(timed)), timed)


def drain(dataset, total: int, report=None) -> StepClock:
    """The pipeline alone: pull `total` batches and tick after each (`report(done)` after each, if given).

    `dataset` is a tf.data dataset (each drain starts a fresh iterator of it) or a generator of numpy
    batches (each drain goes on from where the last one, or a fit, left it).
    """
    clock = StepClock()
    clock.start()
    for done, _ in enumerate(itertools.islice(dataset, total), start=1):
        clock.tick()
        if report:
            report(done)
    return clock


def keras_step_callback(clock: StepClock, on_step=None):
    """A Keras callback that ticks `clock` at the end of each training batch."""
    import keras

    class _StepCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            clock.start()

        def on_train_batch_end(self, batch, logs=None):
            clock.tick()
            if on_step:
                on_step(batch + 1)

    return _StepCallback()
