"""Magnitude pruning masks for any network of pipelines.train.models.

Prunable weights are the trainable kernels, each of a kind (pipelines.train.models.kinds: stem,
convolution, depthwise, pointwise, squeeze-excite, dense, classifier); never BatchNormalization
parameters or biases. A mask keeps a weight where it is True. Target sparsities
prune an exact count: the `round(s * n)` smallest magnitudes over all prunable weights (`global`),
in each layer (`layer`), or in each layer's Erdős–Rényi-Kernel share (`erk`, see allocation.py);
ties are broken by position, so counts are exact and masks reproducible. Absolute thresholds prune
every weight whose magnitude is at or below the threshold. Layer kinds named in `keep_dense` are
left whole, the target reached over the other weights or over all of them (`sparsity_over`).
Per-kind targets (`per_kind`, from per-kind pruning rates: pipelines.lth.rates) prune each kind, or
family of kinds, to its own sparsity: each layer (`layer`) or the kind's layers together (`global`).
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
from pipelines.lth.allocation import erk_kept_counts
from pipelines.registry import Registry
from pipelines.train.models.kinds import FAMILIES, KINDS

OVER_MODES = ("all", "rest")  # what a target sparsity is a share of: all prunable weights, or those not kept dense


@dataclass(frozen=True)
class MaskSpec:
    scope: str
    sparsity: float | None = None  # fraction to prune
    threshold: float | None = None  # or: prune magnitudes <= threshold
    keep_dense: tuple[str, ...] = ()  # layer kinds left unpruned (KINDS)
    sparsity_over: str = "all"  # with keep_dense: the sparsity is a share of all prunable weights, or of the rest
    per_kind: tuple[tuple[str, float], ...] = ()  # or: (kind or family, sparsity) for every kind

    @property
    def mask_id(self) -> str:
        if self.per_kind:
            return f"{self.scope}-" + "-".join(f"{key}{sparsity:.4f}" for key, sparsity in self.per_kind)
        base = f"{self.scope}-s{self.sparsity:.4f}" if self.sparsity is not None else f"{self.scope}-t{self.threshold:g}"
        if not self.keep_dense:  # the ids of searches made before kinds could be kept dense
            return base
        return f"{base}-keep-{'+'.join(sorted(self.keep_dense))}-over-{self.sparsity_over}"

    def validate(self) -> None:
        SCOPES.entry(self.scope)
        if [self.sparsity is not None, self.threshold is not None, bool(self.per_kind)].count(True) != 1:
            raise ValueError("a mask spec takes a sparsity, a threshold or per-kind sparsities")
        if self.per_kind:
            self._validate_per_kind()
        if self.sparsity is not None and not 0 <= self.sparsity < 1:  # NaN fails this too
            raise UserInputError(f"--sparsity {self.sparsity} is outside [0, 1): give the fraction of weights to prune")
        if self.threshold is not None and not (math.isfinite(self.threshold) and self.threshold >= 0):
            raise UserInputError(f"--threshold {self.threshold} is not a magnitude: give a finite number >= 0")
        if self.threshold is not None and self.scope != "global":
            raise UserInputError(f"--threshold applies with --scope global, not {self.scope}: "
                                 "use --sparsity for per-layer masks")
        for kind in self.keep_dense:
            if kind not in KINDS:
                raise UserInputError(f"--keep-dense {kind!r} is not a layer kind: choose from {', '.join(KINDS)}")
            if self.keep_dense.count(kind) > 1:
                raise UserInputError(f"--keep-dense lists {kind} twice: give each kind once")
        if self.sparsity_over not in OVER_MODES:
            raise UserInputError(f"--sparsity-over {self.sparsity_over!r} is not a choice: "
                                 f"choose one of {', '.join(OVER_MODES)}")

    def _validate_per_kind(self) -> None:
        if self.scope not in PER_KIND_SCOPES:
            raise UserInputError(f"per-kind pruning rates take --scope {' or '.join(PER_KIND_SCOPES)}, not {self.scope}: "
                                 "the rates already say how much of each kind to prune")
        if self.keep_dense:
            raise UserInputError("per-kind pruning rates and --keep-dense both say what to prune: "
                                 "give a kind rate 0 to keep it dense")
        for key, sparsity in self.per_kind:
            if key not in KINDS and key not in FAMILIES:
                raise UserInputError(f"--prune-rate names {key!r}, not a layer kind: choose from "
                                     f"{', '.join(KINDS)}, or conv/dense for every kind of that family")
            if not 0 <= sparsity < 1:
                raise UserInputError(f"--prune-rate {key} gives sparsity {sparsity}, outside [0, 1)")

    def kind_sparsity(self, kinds: dict[str, str]) -> dict[str, tuple[str, float]]:
        """Per-kind targets: each kernel path -> (the key that covers its kind, its sparsity): the kind
        itself if named, else its family (conv, dense). A kind that no key covers is refused."""
        targets = dict(self.per_kind)
        covering = {kind: kind if kind in targets else
                    next((family for family, members in FAMILIES.items() if kind in members and family in targets), None)
                    for kind in set(kinds.values())}
        if missing := sorted(kind for kind, key in covering.items() if key is None):
            raise UserInputError(f"--prune-rate gives no rate for the {', '.join(missing)} layer(s) of this network: "
                                 f"name them (or their family, conv or dense), e.g. {missing[0]}=0.2")
        return {path: (covering[kind], targets[covering[kind]]) for path, kind in kinds.items()}

    def share_of_rest(self, total: int, rest: int) -> float:
        """The sparsity to reach over the `rest` of `total` prunable weights that are not kept dense.

        Over all weights it is the exact count `round(s * total)` as a share of the rest, refused when
        the rest is too small to hold it."""
        if self.sparsity_over == "rest" or rest == total:
            return self.sparsity
        count = round(self.sparsity * total)
        if count > rest:
            raise UserInputError(
                f"mask {self.mask_id} cannot reach sparsity {self.sparsity} over all {total:,} prunable weights: "
                f"it needs {count:,} pruned but only {rest:,} are not kept dense ({', '.join(self.keep_dense)}); "
                "lower --sparsity, keep fewer kinds dense, or use --sparsity-over rest")
        return count / rest if rest else 0.0


def check_reachable(specs: list[MaskSpec], weights: dict[str, np.ndarray], kinds: dict[str, str]) -> None:
    """Refuse a target sparsity that the weights not kept dense cannot hold, and per-kind rates that
    leave a kind of this network without one, from the kernels alone: before the dense run trains."""
    total = sum(w.size for w in weights.values())
    for spec in specs:
        if spec.per_kind:
            spec.kind_sparsity(kinds)
        elif spec.sparsity is not None:
            spec.share_of_rest(total, sum(w.size for name, w in weights.items() if kinds[name] not in spec.keep_dense))


def _prune_smallest(magnitudes: np.ndarray, count: int) -> np.ndarray:
    keep = np.ones(magnitudes.size, dtype=bool)
    keep[np.argsort(magnitudes, kind="stable")[:count]] = False
    return keep


def compute_masks(weights: dict[str, np.ndarray], kinds: dict[str, str], spec: MaskSpec,
                  previous: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Masks for `weights` (path -> kernel; `kinds`: path -> its kind); with `previous` (iterative
    pruning), pruned weights stay pruned and the sparsity counts them: the new mask reaches
    `spec.sparsity` overall. Layers of the kinds in `spec.keep_dense` keep their previous mask (all
    of them, in a first round)."""
    spec.validate()
    previous = previous or {name: np.ones(w.shape, dtype=bool) for name, w in weights.items()}
    # Already-pruned weights sort first: -1 is below every magnitude.
    magnitude = {name: np.where(previous[name], np.abs(w), -1.0) for name, w in weights.items()
                 if kinds[name] not in spec.keep_dense}
    if spec.threshold is not None:
        pruned = {name: m > spec.threshold for name, m in magnitude.items()}
    elif spec.per_kind:
        targets = spec.kind_sparsity(kinds)
        pruned = {}
        for key, sparsity in spec.per_kind:
            group = {name: m for name, m in magnitude.items() if targets[name][0] == key}
            pruned.update(SCOPES[spec.scope](group, sparsity) if group else {})
    else:
        total, rest = sum(w.size for w in weights.values()), sum(m.size for m in magnitude.values())
        pruned = SCOPES[spec.scope](magnitude, spec.share_of_rest(total, rest))
    return {name: pruned[name] if name in pruned else previous[name] for name in weights}


def model_masks(model, spec: MaskSpec) -> dict[str, np.ndarray]:
    """`compute_masks` over a built Keras model's own kernels, by their kinds."""
    from pipelines.train.model import kernel_kinds, kernel_values

    return compute_masks(kernel_values(model), kernel_kinds(model), spec)


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


def prune_erdos_renyi_kernel(magnitude: dict[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """The `n - round(s * n)` weights kept are shared among the layers by RigL's Erdős–Rényi-Kernel
    rule (allocation.erk_kept_counts); each layer keeps its largest magnitudes."""
    total = sum(m.size for m in magnitude.values())
    caps = {name: int((m >= 0).sum()) for name, m in magnitude.items()}  # a previous round's pruned weights are -1
    kept = erk_kept_counts({name: m.shape for name, m in magnitude.items()}, caps, total - round(sparsity * total))
    return {name: _prune_smallest(m.ravel(), m.size - kept[name]).reshape(m.shape) for name, m in magnitude.items()}


SCOPES: Registry[Callable] = Registry("scope")  # how a target sparsity is spread over the layers
SCOPES.add("global", prune_globally, "the smallest magnitudes over all prunable weights together")
SCOPES.add("layer", prune_each_layer, "the same share of each layer")
SCOPES.add("erk", prune_erdos_renyi_kernel, "each layer's Erdős–Rényi-Kernel share (RigL): small layers kept denser")
PER_KIND_SCOPES = ("layer", "global")  # how per-kind targets are spread: each layer, or each kind's layers together


def sparsity_report(masks: dict[str, np.ndarray], kinds: dict[str, str], spec: MaskSpec | None = None) -> dict:
    """What a mask prunes: in all, per layer (with its kind, and the layers in network order) and per
    kind; given the spec it was built from, also what was asked and what the pruned weights reached."""
    report = {
        **_pruned_share(masks.values()),
        "per_layer": {name: 1 - float(m.mean()) for name, m in masks.items()},
        "layer_order": list(masks),
        "layer_kinds": {name: kinds[name] for name in masks},
        "per_kind": {kind: _pruned_share([m for name, m in masks.items() if kinds[name] == kind])
                     for kind in KINDS if kind in kinds.values()},
        "collapsed_layers": sorted(name for name, m in masks.items() if not m.any()),
    }
    if spec is None:
        return report
    rest = _pruned_share([m for name, m in masks.items() if kinds[name] not in spec.keep_dense])
    if spec.per_kind:
        report["requested_per_kind"] = dict(spec.per_kind)
    return {**report, **_requested(spec, masks, kinds, rest["weights"]), "scope": spec.scope,
            "keep_dense": sorted(spec.keep_dense), "sparsity_over": spec.sparsity_over,
            "pruned_set_weights": rest["weights"], "sparsity_of_pruned": rest["sparsity"]}


def _pruned_share(masks) -> dict:
    total = sum(m.size for m in masks)
    pruned = sum(int((~m).sum()) for m in masks)
    return {"weights": total, "pruned": pruned, "sparsity": pruned / total if total else 0.0}


def _requested(spec: MaskSpec, masks: dict[str, np.ndarray], kinds: dict[str, str], rest: int) -> dict:
    """The target sparsity over all prunable weights and over those not kept dense (None for thresholds)."""
    total = sum(m.size for m in masks.values())
    if spec.per_kind:
        targets = spec.kind_sparsity(kinds)
        share = sum(targets[name][1] * m.size for name, m in masks.items()) / total
        return {"requested_sparsity": share, "requested_sparsity_of_pruned": share}
    if spec.sparsity is None or not rest:
        return {"requested_sparsity": None, "requested_sparsity_of_pruned": None}
    if spec.sparsity_over == "rest":
        return {"requested_sparsity": spec.sparsity * rest / total, "requested_sparsity_of_pruned": spec.sparsity}
    return {"requested_sparsity": spec.sparsity, "requested_sparsity_of_pruned": spec.sparsity * total / rest}


def check_collapse(spec: MaskSpec, report: dict, allow: bool) -> str | None:
    """Refuse a mask that empties whole layers, unless allowed; then return the warning to show."""
    collapsed = report["collapsed_layers"]
    if not collapsed:
        return None
    message = (f"mask {spec.mask_id} prunes {len(collapsed)} layer(s) entirely ({', '.join(collapsed[:3])}"
               f"{', ...' if len(collapsed) > 3 else ''}): the network cannot pass a signal through them")
    if not allow:
        raise UserInputError(f"{message}; use --scope erk or --scope layer, a lower sparsity, or --allow-collapse to train it anyway")
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
