"""The training recipe as data: optimizer, learning-rate schedule, weight decay, label smoothing, batch.

Each workload carries a default `Recipe` (pipelines.train.workloads); `harness lth` and `harness run`
override any field (`--lr`, `--lr-schedule`, ...). The recipe is recorded with every result: how a
network was trained decides its accuracy as much as anything a search varies.

Lengths are in epochs or steps: a warm-up is "500it", "2ep" or "0", milestones are epochs. The
schedule (pipelines.train.recipe_schedule) turns them into steps with the steps per epoch the data gives.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace

from pipelines.errors import UserInputError
from pipelines.registry import Registry
from pipelines.settings import setting

OPTIMIZERS: Registry[str] = Registry("optimizer")  # name -> the Keras optimizer class's name
OPTIMIZERS.add("sgd", "SGD", "SGD with Nesterov momentum")
OPTIMIZERS.add("momentum", "SGD", "SGD with (heavy-ball) momentum, as open_lth trains its CIFAR networks")
OPTIMIZERS.add("rmsprop", "RMSprop", "RMSProp (rho 0.9, epsilon 1.0) with momentum, as MobileNetV2 was trained")
OPTIMIZERS.add("adam", "Adam", "Adam (beta 0.9, 0.999; epsilon 1e-7), as Frankle & Carbin 2019 train LeNet and Conv-2/4/6")

SCHEDULES: Registry[str] = Registry("learning-rate schedule")
SCHEDULES.add("constant", "constant", "the peak rate throughout")
SCHEDULES.add("step", "step", "the peak rate times gamma at each milestone epoch")
SCHEDULES.add("exponential", "exponential", "the peak rate times gamma after every epoch")
SCHEDULES.add("cosine", "cosine", "half a cosine from the peak rate after warm-up to 0 at the end")

_LENGTH = re.compile(r"^(\d+)(it|ep)$")


@dataclass(frozen=True)
class Recipe:
    optimizer: str = setting("sgd", "The optimizer.", choices=OPTIMIZERS)
    learning_rate: float = setting(0.01, "Peak learning rate.")
    momentum: float = 0.9
    warmup: str = setting("0", "Linear learning-rate warm-up to the peak: steps (500it) or epochs (2ep); 0: none.")
    schedule: str = setting("constant", "Learning-rate schedule after the warm-up.", choices=SCHEDULES)
    milestones: tuple[int, ...] = setting((), "--lr-schedule step: epochs at which the rate is multiplied by "
                                              "--gamma.")
    gamma: float = setting(0.1, "--lr-schedule step: the factor at each milestone; exponential: per epoch.")
    weight_decay: float = setting(0.0, "Decoupled weight decay of the kernels (w -= lr * wd * w each step).")
    label_smoothing: float = setting(0.0, "Label smoothing of the cross-entropy loss.")
    batch_size: int = setting(16, "Batch per replica (the global batch is this times the replicas).")

    def validate(self) -> None:
        """Each value on its own; `check_length` checks them against a training's length."""
        OPTIMIZERS.entry(self.optimizer)
        SCHEDULES.entry(self.schedule)
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UserInputError(f"--lr must be a positive number, got {self.learning_rate}")
        self.warmup_length()
        if list(self.milestones) != sorted(set(self.milestones)) or any(m < 1 for m in self.milestones):
            raise UserInputError(f"--milestones must be increasing epochs from 1, got {list(self.milestones)}")
        if bool(self.milestones) != (self.schedule == "step"):
            raise UserInputError("--lr-schedule step takes --milestones, and only it does")
        if not 0 < self.gamma <= 1:
            raise UserInputError(f"--gamma must lie in (0, 1], got {self.gamma}")
        if not (0 <= self.weight_decay < 1):
            raise UserInputError(f"--weight-decay must lie in [0, 1), got {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise UserInputError(f"--label-smoothing must lie in [0, 1), got {self.label_smoothing}")
        if self.batch_size < 1:
            raise UserInputError(f"--batch must be at least 1, got {self.batch_size}")

    def warmup_length(self) -> tuple[int, str]:
        """The warm-up as (count, "it" or "ep"); "0" is (0, "it")."""
        if self.warmup.strip() == "0":
            return 0, "it"
        match = _LENGTH.match(self.warmup.strip())
        if not match:
            raise UserInputError(f"--lr-warmup takes steps (500it), epochs (2ep) or 0, got {self.warmup!r}")
        return int(match.group(1)), match.group(2)

    def warmup_steps(self, steps_per_epoch: int) -> int:
        count, unit = self.warmup_length()
        return count * steps_per_epoch if unit == "ep" else count

    def check_length(self, epochs: int, steps_per_epoch: int) -> None:
        """Refuse milestones at or past the end of an `epochs`-long training, and a warm-up as long as it."""
        if any(m >= epochs for m in self.milestones):
            raise UserInputError(f"--milestones must lie within the {epochs} epoch(s) of training, "
                                 f"got {list(self.milestones)}")
        warmup = self.warmup_steps(steps_per_epoch)
        if warmup and warmup >= epochs * steps_per_epoch:
            raise UserInputError(f"--lr-warmup {self.warmup} is not shorter than the training "
                                 f"({epochs} epoch(s) of {steps_per_epoch} steps)")

    def overridden(self, **fields) -> Recipe:
        """This recipe with some fields replaced (the command line's), checked; a --gamma that the
        schedule would ignore is refused."""
        recipe = replace(self, **fields)
        recipe.validate()
        if "gamma" in fields and recipe.schedule not in ("step", "exponential"):
            raise UserInputError(f"--gamma applies to --lr-schedule step or exponential, not {recipe.schedule}")
        return recipe

    def as_dict(self) -> dict:
        """As JSON reads it back (a list of milestones), so that a saved recipe compares equal."""
        return {**asdict(self), "milestones": list(self.milestones)}
