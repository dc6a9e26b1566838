"""A recipe's learning rate as a Keras LearningRateSchedule of the optimizer's iteration counter.

Keras evaluates it inside the compiled step, from the optimizer's `iterations` variable, on either
backend (JAX's stateless step takes that counter as state). So the rate follows the counter, not
Python: a ticket rewound to epoch k starts with the counter at k epochs of steps and gets the rate
the dense run had there, and a warm worker that resets the counter gets the schedule's start.

rate(step) = peak x warm-up x decay of min(step, last step): past the end the rate holds at the last
step's (fine-tuning trains there, pipelines.lth.modes), where warm-up = min(1, (step + 1) / warm-up steps) (the first
step already moves; none without a warm-up) and decay is the schedule's: 1 (constant), gamma to the
number of milestones passed (step), gamma to the epochs passed (exponential), or half a cosine from
1 at the end of the warm-up to 0 at the end of training (cosine).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from pipelines.train.recipes import Recipe


@dataclass(frozen=True)
class ScheduleLength:
    """How long the schedule runs: the whole training (a rewound ticket starts part way in)."""

    epochs: int
    steps_per_epoch: int

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch


def learning_rate_schedule(recipe: Recipe, length: ScheduleLength):
    """The recipe's schedule over `length`, checked against it."""
    recipe.check_length(length.epochs, length.steps_per_epoch)
    return _schedule_class()(peak=recipe.learning_rate, kind=recipe.schedule,
                             warmup_steps=recipe.warmup_steps(length.steps_per_epoch),
                             steps_per_epoch=length.steps_per_epoch, total_steps=length.steps,
                             milestones=list(recipe.milestones), gamma=recipe.gamma)


def custom_objects() -> dict:
    """For a process that rebuilds an optimizer from its config without this module's help (Elephas'
    Spark workers): the schedule's class, which pickles by reference, so that unpickling it in such a
    process imports this module and registers the class (`__getattr__` below)."""
    import keras

    schedule = _schedule_class()
    return {keras.saving.get_registered_name(schedule): schedule}


def __getattr__(name: str):
    """`RecipeSchedule` as a module attribute, defined (and registered with Keras) on first access."""
    if name == "RecipeSchedule":
        return _schedule_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _schedule_class():
    """Defined on first use: Keras is imported only after the backend is chosen."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="lth_harness")
    class RecipeSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, peak: float, kind: str, warmup_steps: int, steps_per_epoch: int, total_steps: int,
                     milestones: list[int], gamma: float):
            self.peak, self.kind, self.warmup_steps = peak, kind, warmup_steps
            self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps
            self.milestones, self.gamma = milestones, gamma

        def __call__(self, step):
            step = ops.minimum(ops.cast(step, "float32"), float(self.total_steps - 1))  # held past the end
            warm = ops.minimum(1.0, (step + 1.0) / self.warmup_steps) if self.warmup_steps else 1.0
            return ops.multiply(ops.multiply(ops.convert_to_tensor(self.peak, "float32"), warm), self._decay(step))

        def _decay(self, step):
            if self.kind == "step":
                passed = sum(ops.cast(step >= m * self.steps_per_epoch, "float32") for m in self.milestones)
                return ops.power(self.gamma, passed)
            if self.kind == "exponential":
                return ops.power(self.gamma, ops.floor(step / self.steps_per_epoch))
            if self.kind == "cosine":
                span = max(self.total_steps - self.warmup_steps, 1)
                progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
                return 0.5 * (1.0 + ops.cos(math.pi * progress))
            return 1.0

        def get_config(self):
            return {"peak": self.peak, "kind": self.kind, "warmup_steps": self.warmup_steps,
                    "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
                    "milestones": self.milestones, "gamma": self.gamma}

    RecipeSchedule.__qualname__ = "RecipeSchedule"  # pickled by reference, through `__getattr__`
    return RecipeSchedule
