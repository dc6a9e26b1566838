"""What a registered network is: how to build it, where it comes from, and the pixel range it takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

USER_MODEL_FORM = "package.module:function"


@dataclass(frozen=True)
class Network:
    build: Callable  # (inputs, classes, workload) -> the logits tensor
    source: str  # the paper or library its architecture comes from
    pixels: str = "signed"  # what `inputs` hold: "signed" [-1, 1], "raw" [0, 255]
