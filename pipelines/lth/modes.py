"""Retraining modes (Renda, Frankle & Carbin 2020, "Comparing Rewinding and Fine-tuning in Neural
Network Pruning"): what a pruned network starts from and which learning rates it retrains with.

Each mode retrains for the steps that remain after the rewind point k, so the three compare at
equal cost:
- `weight`: weight rewinding, the lottery ticket's own: the weights and the schedule of step k.
- `lr`: learning-rate rewinding: the final dense weights, with the schedule replayed from step k.
- `finetune`: fine-tuning: the final dense weights, at the schedule's final rate throughout. The
  schedule is held at its last step (pipelines.train.recipe_schedule), so with the cosine default
  that rate is about peak x (pi / steps)^2 / 4, nearly zero: fine-tuning then hardly moves the
  pruned network, which is the mode's known weakness. Renda et al. used step schedules, whose final
  rate is the peak times gamma per milestone (`--lr-schedule step --milestones ...`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.registry import Registry


@dataclass(frozen=True)
class RetrainMode:
    from_final: bool  # start from the final dense weights (else from the rewind point's)
    at_final_rate: bool  # hold the schedule at its last step (else start it at the rewind point)


MODES: Registry[RetrainMode] = Registry("retraining mode")
MODES.add("weight", RetrainMode(from_final=False, at_final_rate=False),
          "weight rewinding: the weights and schedule of the rewind point (the lottery ticket)")
MODES.add("lr", RetrainMode(from_final=True, at_final_rate=False),
          "learning-rate rewinding: the final weights, the schedule replayed from the rewind point")
MODES.add("finetune", RetrainMode(from_final=True, at_final_rate=True),
          "fine-tuning: the final weights at the schedule's final rate, for as many steps")
