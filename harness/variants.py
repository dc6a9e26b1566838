"""The named variants `harness run` measures: a device and a data pipeline composed into one run."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.errors import UserInputError


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    device: str
    pipeline: str


VARIANTS = {
    v.name: v
    for v in (
        Variant("cpu-naive", "train on the CPU, fed by a one-thread Python/PIL generator", "cpu", "naive"),
        Variant("cpu-parallel", "train on the CPU, fed by tf.data map(AUTOTUNE) + prefetch", "cpu", "parallel"),
    )
}


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserInputError(f"unknown variant {name!r}: known variants are {', '.join(VARIANTS)}")
    return VARIANTS[name]
