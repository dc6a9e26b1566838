"""How a target sparsity is shared among MobileNetV2's layers: layer kinds and the Erdős–Rényi-Kernel split.

MobileNetV2's prunable weights are far from alike: at 224 px with 1,000 classes the pointwise (1x1)
convolutions hold 61% of them, the classifier 37%, the depthwise kernels 1.9% and the stem under
0.1% (at alpha 0.35 and 10 classes: 91%, 3%, 6%, 0.1%). Pruning every layer by the same share
leaves about one weight per 3x3 depthwise kernel at 90%; pruning globally empties small layers.
"""

from __future__ import annotations

import math
import re

KINDS = ("stem", "depthwise", "pointwise", "classifier")
KEEPABLE_KINDS = ("stem", "depthwise", "classifier")  # what `keep_dense` may leave unpruned
STEM_LAYER = "Conv1"  # Keras' MobileNetV2 names; its last 1x1 convolution is "Conv_1", a pointwise one
LAST_CONV_LAYER = "Conv_1"
CLASSIFIER_LAYER = "predictions"
DEPTHWISE_SUFFIX = "_depthwise"
BLOCK_LAYER = re.compile(r"(?:block_(\d+)|expanded_conv)_(expand|depthwise|project)")  # expanded_conv: block 0
BLOCK_STEPS = ("expand", "depthwise", "project")


def _layer(path: str) -> str:
    return path.split("/")[-2] if "/" in path else path


def kernel_kind(path: str) -> str:
    """The kind of the layer owning the kernel variable at `path` ("block_3_depthwise/kernel"), from
    Keras' MobileNetV2 layer names: its first convolution is the stem, the final dense layer the
    classifier; every other convolution that is not depthwise is a 1x1 (pointwise) one."""
    layer = _layer(path)
    if layer == STEM_LAYER:
        return "stem"
    if layer == CLASSIFIER_LAYER:
        return "classifier"
    return "depthwise" if layer.endswith(DEPTHWISE_SUFFIX) else "pointwise"


def network_position(path: str) -> tuple:
    """A sort key putting kernels in the order a signal passes their layers in Keras' MobileNetV2
    (saved reports sort their keys, so "block_10" would come before "block_2"): the stem, blocks 0
    to 16 (expand, depthwise, project), the last 1x1 convolution, the classifier; other names last."""
    layer = _layer(path)
    block = BLOCK_LAYER.fullmatch(layer)
    if block:
        return 1, int(block.group(1) or 0), BLOCK_STEPS.index(block.group(2)), ""
    ranks = {STEM_LAYER: 0, LAST_CONV_LAYER: 2, CLASSIFIER_LAYER: 3}
    return ranks.get(layer, 4), 0, 0, layer


def erk_kept_counts(shapes: dict[str, tuple[int, ...]], caps: dict[str, int], kept: int) -> dict[str, int]:
    """How many weights each layer keeps so that `kept` are kept in all, shared as RigL's
    Erdős–Rényi-Kernel rule shares them (Evci et al. 2020; rigl's `get_sparsities_erdos_renyi`).

    A layer's density is eps * sum(shape) / prod(shape), so it keeps eps * sum(shape) weights, with
    one eps for every layer. A layer that would keep more than its cap (all its weights, or in an
    iterative round the ones its previous mask kept) keeps its cap, and eps is solved again over the
    others, until none exceeds. RigL saturates the layers with the largest density one group at a
    time; saturating every layer over its cap at once reaches the same split, as eps only grows.
    The real-valued shares are then rounded so that the counts sum to `kept` exactly: each layer
    gets its share's floor, and the layers with the largest fractions (the first on ties) one more.
    """
    if kept > sum(caps.values()):
        raise ValueError(f"cannot keep {kept} weights of {sum(caps.values())}")
    saturated: set[str] = set()
    while True:
        free = [name for name in shapes if name not in saturated]
        spread = sum(sum(shapes[name]) for name in free)
        if not spread:  # every layer kept whole: `kept` is all there is
            return dict(caps)
        eps = (kept - sum(caps[name] for name in saturated)) / spread
        over = {name for name in free if eps * sum(shapes[name]) > caps[name]}
        if not over:
            break
        saturated |= over
    share = {name: caps[name] if name in saturated else eps * sum(shapes[name]) for name in shapes}
    counts = {name: min(math.floor(value), caps[name]) for name, value in share.items()}
    growable = sorted((name for name in shapes if counts[name] < caps[name]),
                      key=lambda name: share[name] - counts[name], reverse=True)  # stable: first on ties
    for name in growable[:kept - sum(counts.values())]:
        counts[name] += 1
    return counts
