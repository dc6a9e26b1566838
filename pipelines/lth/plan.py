"""The jobs of a lottery-ticket search: one per (mask, rewind point, retraining mode, replicate), plus
random-init controls and, with --stability, one pair of copies per (network, rewind point, replicate).

Job ids are stable (they name the mask, the rewind point, the mode and the replicate), so results can
be stored per job and a rerun can skip the finished ones. A ticket retrains the steps of the dense
schedule that remain after its rewind point (every mode alike, so they compare at equal cost,
pipelines.lth.modes); a control trains the mask from a fresh random initialization for all of them.

One-shot masks come from the final dense weights and are shared by every rewind. Iterative masks
after the first round descend from one rewind's chain of tickets (`<mask>-r<round>-k<rewind>`); a
round's control uses the chain of the first rewind point.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.errors import UserInputError
from pipelines.lth.masks import MaskSpec
from pipelines.lth.rewind import RewindPoint

TICKET, STABILITY = "ticket", "stability"


@dataclass(frozen=True)
class Grid:
    """What a plan varies, with the dense run's length in steps (rewind points are steps)."""

    points: tuple[RewindPoint, ...]
    epochs: int
    steps_per_epoch: int
    control: bool = False
    modes: tuple[str, ...] = ("weight",)
    replicates: int = 1
    stability: bool = False

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class TicketJob:
    job_id: str
    mask: MaskSpec | None  # None: the dense network (a stability pair)
    mask_id: str
    rewind: int | str | None  # the rewind point's label; None: the random-init control
    rewind_step: int | None
    steps: int  # optimizer steps retrained
    mode: str | None = "weight"  # None: the control
    replicate: int = 0
    round: int = 1  # iterative pruning: which round
    keep_weights: bool = False  # iterative: the next round prunes these trained weights
    kind: str = TICKET

    @property
    def control(self) -> bool:
        return self.rewind is None

    @property
    def point(self) -> RewindPoint:
        return RewindPoint.parse(self.rewind)

    @property
    def cost(self) -> int:
        """What executors order by: the steps it trains (a stability pair trains two copies)."""
        return self.steps * (2 if self.kind == STABILITY else 1)

    def describe(self) -> dict:
        return {**asdict(self), "mask": asdict(self.mask) if self.mask else None, "control": self.control}


def chain_mask_id(mask: MaskSpec, round_: int, chain) -> str:
    return mask.mask_id if round_ == 1 else f"{mask.mask_id}-r{round_}-k{chain}"


def _replica_suffix(replicate: int) -> str:
    return f"-rep{replicate}" if replicate else ""


def job_id(mask: MaskSpec, round_: int, rewind, mode: str | None = "weight", replicate: int = 0) -> str:
    prefix = mask.mask_id if round_ == 1 else f"{mask.mask_id}-r{round_}"
    if rewind is None:
        return f"{prefix}-control{_replica_suffix(replicate)}"
    named_mode = "" if mode == "weight" else f"-{mode}"
    return f"{prefix}{named_mode}-rewind{rewind}{_replica_suffix(replicate)}"


def _jobs_for(mask: MaskSpec, round_: int, grid: Grid, replicate: int, keep_weights: bool = False) -> list[TicketJob]:
    jobs = []
    for mode in grid.modes:
        for point in grid.points:
            step = point.step(grid.steps_per_epoch)
            jobs.append(TicketJob(job_id(mask, round_, point.label, mode, replicate), mask,
                                  chain_mask_id(mask, round_, point.label), point.label, step,
                                  grid.total_steps - step, mode, replicate, round_, keep_weights))
    if grid.control:
        jobs.append(TicketJob(job_id(mask, round_, None, None, replicate), mask,
                              chain_mask_id(mask, round_, grid.points[0].label), None, None, grid.total_steps,
                              None, replicate, round_))
    return jobs


def stability_jobs(masks: list[MaskSpec], grid: Grid, replicate: int) -> list[TicketJob]:
    """Two copies from each rewind point, for the dense network and each (one-shot) mask."""
    networks = [(None, "dense"), *((mask, mask.mask_id) for mask in masks)]
    return [TicketJob(f"stability-{name}-rewind{point.label}{_replica_suffix(replicate)}", mask, name, point.label,
                      point.step(grid.steps_per_epoch), grid.total_steps - point.step(grid.steps_per_epoch),
                      "weight", replicate, kind=STABILITY)
            for mask, name in networks for point in grid.points]


def oneshot_jobs(masks: list[MaskSpec], grid: Grid) -> list[TicketJob]:
    """Replicate-major, then mask, mode and rewind point; stability pairs after each replicate's tickets."""
    jobs = []
    for replicate in range(grid.replicates):
        jobs += [job for mask in masks for job in _jobs_for(mask, 1, grid, replicate)]
        jobs += stability_jobs(masks, grid, replicate) if grid.stability else []
    return jobs


def iterative_round(masks: list[MaskSpec], round_: int, grid: Grid) -> list[TicketJob]:
    """Round `round_` (from 1) of iterative pruning, every replicate: masks[round_ - 1] is its target."""
    return [job for replicate in range(grid.replicates)
            for job in _jobs_for(masks[round_ - 1], round_, grid, replicate, keep_weights=round_ < len(masks))]


@dataclass(frozen=True)
class Shard:
    """Array task `index` of `count` (a SLURM job array) takes every count-th job from `index`:
    interleaving spreads the long early-rewind jobs over the tasks instead of giving them to the first."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise UserInputError(f"--shard expects I/N (e.g. 3/20), got {text!r}") from None
        if not 0 <= index < count:
            raise UserInputError(f"--shard {text}: I must be in 0..N-1")
        return cls(index, count)

    def take(self, jobs: list[TicketJob]) -> list[TicketJob]:
        return jobs[self.index::self.count]
