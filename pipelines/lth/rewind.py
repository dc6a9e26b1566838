"""Rewind points: where in the dense run a ticket's weights (and its learning-rate schedule) come from.

`--rewind 0,500it,2ep`: a point is a number of epochs (`2ep`, or a bare `2`) or of optimizer steps
(`500it`), as open_lth writes them. `0` is the initialization. An epoch point is labelled by its
number (so a job id and a summary row read `rewind2` and `2`, as they always have) and an iteration
point by its text (`500it`). The dense run saves a checkpoint at each point's step; a ticket rewound
there starts the schedule at that step and trains the steps that remain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.errors import UserInputError

_POINT = re.compile(r"^(\d+)(it|ep)?$")


@dataclass(frozen=True, order=True)
class RewindPoint:
    count: int
    unit: str = "ep"  # "ep" or "it"

    @classmethod
    def parse(cls, value: int | str) -> RewindPoint:
        match = _POINT.match(str(value).strip())
        if not match:
            raise UserInputError(f"--rewind takes epochs (2 or 2ep) or steps (500it), got {value!r}")
        count, unit = int(match.group(1)), match.group(2) or "ep"
        return cls(count, "ep" if count == 0 else unit)  # 0it and 0ep are the initialization alike

    @property
    def label(self) -> int | str:
        """How job ids, results and charts name it: 2 (epochs) or "500it"."""
        return self.count if self.unit == "ep" else f"{self.count}it"

    @property
    def checkpoint(self) -> str:
        """The dense run's checkpoint name for this point (pipelines.train.checkpoints)."""
        return f"epoch-{self.count:03d}" if self.unit == "ep" else f"step-{self.count:07d}"

    def step(self, steps_per_epoch: int) -> int:
        return self.count * steps_per_epoch if self.unit == "ep" else self.count

    def describe(self) -> str:
        return f"epoch {self.count}" if self.unit == "ep" else f"step {self.count}"


def parse_points(values) -> list[RewindPoint]:
    return [RewindPoint.parse(value) for value in values]


def check_points(points: list[RewindPoint], epochs: int, steps_per_epoch: int) -> None:
    """Every point inside the dense run, and no two at the same step (they would be one checkpoint)."""
    total = epochs * steps_per_epoch
    at: dict[int, RewindPoint] = {}
    for point in points:
        step = point.step(steps_per_epoch)
        if step >= total:
            raise UserInputError(f"--rewind {point.label} lies at or past the end of the dense run ({epochs} epoch(s) "
                                 f"of {steps_per_epoch} steps, {total} steps): choose an earlier point")
        if step in at:
            raise UserInputError(f"--rewind {at[step].label} and {point.label} are both step {step} "
                                 f"({steps_per_epoch} steps per epoch): give each point once")
        at[step] = point
