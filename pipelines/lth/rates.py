"""Pruning rates: the share of the remaining weights each round prunes, one rate or one per kind.

open_lth prunes one fraction of the remaining weights per round over the whole network (0.2 for
its CIFAR networks); Frankle & Carbin 2019 prune each layer by its kind's rate: convolutions 10-15%,
fully connected layers 20%, the output layer at half the fully connected rate. `--prune-rate 0.2`
is the first, `--prune-rate conv=0.1,dense=0.2,classifier=0.1` the second (a key is a kind of
pipelines.train.models.kinds, or the family conv or dense for every kind of it not named itself).
After r rounds a rate p has pruned 1 - (1 - p)^r of the weights it covers: the rounds' target
sparsities follow, and each round's mask prunes its exact count (`round(s * n)`) as every target
sparsity does, so rounding never accumulates.
"""

from __future__ import annotations

import math

from pipelines.errors import UserInputError

ALL = "all"  # the key of a single rate


def parse_rates(texts: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """("0.2",) -> (("all", 0.2),); ("conv=0.1", "dense=0.2") -> (("conv", 0.1), ("dense", 0.2))."""
    rates = []
    for text in texts:
        key, _, value = text.rpartition("=")
        key = key.strip() or ALL
        try:
            rate = float(value)
        except ValueError:
            raise UserInputError(f"--prune-rate {text!r}: give a rate (0.2) or KIND=RATE pairs (conv=0.1,dense=0.2)") from None
        if not (0 <= rate < 1 and math.isfinite(rate)):
            raise UserInputError(f"--prune-rate {text!r}: a rate is the share of the remaining weights a round "
                                 "prunes, in [0, 1)")
        if any(key == seen for seen, _ in rates):
            raise UserInputError(f"--prune-rate names {key} twice: give each kind once")
        rates.append((key, rate))
    if len(rates) > 1 and any(key == ALL for key, _ in rates):
        raise UserInputError("--prune-rate takes one rate, or KIND=RATE pairs, not both")
    return tuple(rates)


def round_sparsity(rate: float, round_: int) -> float:
    """The share pruned after `round_` rounds of pruning `rate` of what remains."""
    return 1 - (1 - rate) ** round_


def round_targets(rates: tuple[tuple[str, float], ...], rounds: int) -> list[tuple[tuple[str, float], ...]]:
    """Each round's target sparsity per key, rounds 1 to `rounds`."""
    return [tuple((key, round_sparsity(rate, r)) for key, rate in rates) for r in range(1, rounds + 1)]
