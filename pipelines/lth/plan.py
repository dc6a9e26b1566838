"""The jobs of a lottery-ticket search: one per (mask, rewind epoch), plus random-init controls.

Job ids are stable (they name the mask and the rewind), so results can be stored per job and a
rerun can skip the finished ones. Retraining from rewind epoch k runs the remaining epochs - k
epochs of the dense schedule; a control trains the mask from a fresh random initialization for all
of them.

One-shot masks come from the final dense weights and are shared by every rewind. Iterative masks
after the first round descend from one rewind's chain of tickets (`<mask>-r<round>-k<rewind>`); a
round's control uses the chain of the first rewind epoch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.errors import UserInputError
from pipelines.lth.masks import MaskSpec


@dataclass(frozen=True)
class TicketJob:
    job_id: str
    mask: MaskSpec
    mask_id: str
    rewind: int | None  # None: the random-init control
    epochs: int
    round: int = 1  # iterative pruning: which round
    keep_weights: bool = False  # iterative: the next round prunes these trained weights

    @property
    def control(self) -> bool:
        return self.rewind is None

    @property
    def cost(self) -> int:
        """What executors order by: the epochs it retrains."""
        return self.epochs

    def describe(self) -> dict:
        return {**asdict(self), "mask": asdict(self.mask), "control": self.control}


def chain_mask_id(mask: MaskSpec, round_: int, chain: int) -> str:
    return mask.mask_id if round_ == 1 else f"{mask.mask_id}-r{round_}-k{chain}"


def job_id(mask: MaskSpec, round_: int, rewind: int | None) -> str:
    prefix = mask.mask_id if round_ == 1 else f"{mask.mask_id}-r{round_}"
    return f"{prefix}-control" if rewind is None else f"{prefix}-rewind{rewind}"


def _jobs_for(mask: MaskSpec, round_: int, rewinds: tuple[int, ...], epochs: int, control: bool,
              keep_weights: bool = False) -> list[TicketJob]:
    jobs = [TicketJob(job_id(mask, round_, k), mask, chain_mask_id(mask, round_, k), k, epochs - k, round_,
                      keep_weights) for k in rewinds]
    if control:
        jobs.append(TicketJob(job_id(mask, round_, None), mask, chain_mask_id(mask, round_, rewinds[0]), None,
                              epochs, round_))
    return jobs


def oneshot_jobs(masks: list[MaskSpec], rewinds: tuple[int, ...], epochs: int, control: bool) -> list[TicketJob]:
    return [job for mask in masks for job in _jobs_for(mask, 1, rewinds, epochs, control)]


def iterative_round(masks: list[MaskSpec], round_: int, rewinds: tuple[int, ...], epochs: int,
                    control: bool) -> list[TicketJob]:
    """Round `round_` (from 1) of iterative pruning: masks[round_ - 1] is its target sparsity."""
    return _jobs_for(masks[round_ - 1], round_, rewinds, epochs, control, keep_weights=round_ < len(masks))


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
