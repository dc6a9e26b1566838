"""Magnitude pruning masks for MobileNetV2.

Prunable weights are the kernels of convolutions, depthwise convolutions and the classifier; never
BatchNormalization parameters or biases. A mask keeps a weight where it is True. Target sparsities
prune an exact count: the `round(s * n)` smallest magnitudes over all prunable weights (`global`) or
in each layer (`layer`); ties are broken by position, so counts are exact and masks reproducible.
Absolute thresholds prune every weight whose magnitude is at or below the threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pipelines import atomic
from pipelines.errors import UserInputError
from pipelines.registry import Registry



@dataclass(frozen=True)
class MaskSpec:
    scope: str
    sparsity: float | None = None  # fraction to prune
    threshold: float | None = None  # or: prune magnitudes <= threshold

    @property
    def mask_id(self) -> str:
        return f"{self.scope}-s{self.sparsity:.4f}" if self.sparsity is not None else f"{self.scope}-t{self.threshold:g}"

    def validate(self) -> None:
        SCOPES.entry(self.scope)
        if (self.sparsity is None) == (self.threshold is None):
            raise ValueError("a mask spec takes a sparsity or a threshold")
        if self.sparsity is not None and not 0 <= self.sparsity < 1:  # NaN fails this too
            raise UserInputError(f"--sparsity {self.sparsity} is outside [0, 1): give the fraction of weights to prune")
        if self.threshold is not None and not (math.isfinite(self.threshold) and self.threshold >= 0):
            raise UserInputError(f"--threshold {self.threshold} is not a magnitude: give a finite number >= 0")
        if self.threshold is not None and self.scope != "global":
            raise UserInputError(f"--threshold applies with --scope global, not {self.scope}: "
                                 "use --sparsity for per-layer masks")


def _prune_smallest(magnitudes: np.ndarray, count: int) -> np.ndarray:
    keep = np.ones(magnitudes.size, dtype=bool)
    keep[np.argsort(magnitudes, kind="stable")[:count]] = False
    return keep


def compute_masks(weights: dict[str, np.ndarray], spec: MaskSpec,
                  previous: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Masks for `weights`; with `previous` (iterative pruning), pruned weights stay pruned and the
    sparsity counts them: the new mask reaches `spec.sparsity` overall."""
    spec.validate()
    previous = previous or {name: np.ones(w.shape, dtype=bool) for name, w in weights.items()}
    # Already-pruned weights sort first: -1 is below every magnitude.
    magnitude = {name: np.where(previous[name], np.abs(w), -1.0) for name, w in weights.items()}
    if spec.threshold is not None:
        return {name: m > spec.threshold for name, m in magnitude.items()}
    return SCOPES[spec.scope](magnitude, spec.sparsity)


def prune_globally(magnitude: dict[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """The `round(s * n)` smallest magnitudes over every prunable weight together."""
    names = list(magnitude)
    flat = np.concatenate([magnitude[n].ravel() for n in names])
    keep = _prune_smallest(flat, round(sparsity * flat.size))
    bounds = np.cumsum([0] + [magnitude[n].size for n in names])
    return {n: keep[bounds[i]:bounds[i + 1]].reshape(magnitude[n].shape) for i, n in enumerate(names)}


def prune_each_layer(magnitude: dict[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """The same share of every layer: `round(s * n_layer)` smallest magnitudes in each."""
    return {name: _prune_smallest(m.ravel(), round(sparsity * m.size)).reshape(m.shape)
            for name, m in magnitude.items()}


SCOPES: Registry[Callable] = Registry("scope")  # how a target sparsity is spread over the layers
SCOPES.add("global", prune_globally, "the smallest magnitudes over all prunable weights together")
SCOPES.add("layer", prune_each_layer, "the same share of each layer")


def sparsity_report(masks: dict[str, np.ndarray]) -> dict:
    total = sum(m.size for m in masks.values())
    pruned = sum(int((~m).sum()) for m in masks.values())
    per_layer = {name: 1 - float(m.mean()) for name, m in masks.items()}
    return {
        "weights": total,
        "pruned": pruned,
        "sparsity": pruned / total,
        "per_layer": per_layer,
        "collapsed_layers": sorted(name for name, m in masks.items() if not m.any()),
    }


def check_collapse(spec: MaskSpec, report: dict, allow: bool) -> str | None:
    """Refuse a mask that empties whole layers, unless allowed; then return the warning to show."""
    collapsed = report["collapsed_layers"]
    if not collapsed:
        return None
    message = (f"mask {spec.mask_id} prunes {len(collapsed)} layer(s) entirely ({', '.join(collapsed[:3])}"
               f"{', ...' if len(collapsed) > 3 else ''}): the network cannot pass a signal through them")
    if not allow:
        raise UserInputError(f"{message}; use --scope layer, a lower sparsity, or --allow-collapse to train it anyway")
    return message


def save_masks(path: Path, masks: dict[str, np.ndarray]) -> None:
    """An .npz keyed by variable path, written atomically."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name.replace("/", "|"): m for name, m in masks.items()})
    atomic.write_bytes(path, buffer.getvalue())


def saved_mask_report(path: Path, report_path: Path, log) -> dict | None:
    """The report of the mask saved at `path` if both files read back whole and agree, else None.

    A mask that does not load would fail every ticket that holds it, rerun after rerun: it is
    reported through `log` and left to be built again (the report is written last, so a mask
    without one was never finished and is rebuilt silently)."""
    if not (path.is_file() and report_path.is_file()):
        return None
    try:
        report = json.loads(report_path.read_bytes())
        weights = sum(mask.size for mask in load_masks(path).values())
        if weights != report["weights"]:
            raise ValueError(f"{weights} weights, its report says {report['weights']}")
    except Exception as error:  # zip, npz, JSON and key errors alike: the file is not what was written
        log(f"mask {path} is damaged ({type(error).__name__}: {error}): building it again")
        return None
    return report


def load_masks(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name.replace("|", "/"): data[name] for name in data.files}
