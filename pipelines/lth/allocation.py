"""How a target sparsity is shared among a network's layers: the Erdős–Rényi-Kernel split.

A network's prunable weights are far from alike: MobileNetV2 at 224 px with 1,000 classes holds 61%
of them in pointwise (1x1) convolutions, 37% in the classifier, 1.9% in depthwise kernels and under
0.1% in the stem (at alpha 0.35 and 10 classes: 91%, 3%, 6%, 0.1%). Pruning every layer by the same
share leaves about one weight per 3x3 depthwise kernel at 90%; pruning globally empties small layers.
"""

from __future__ import annotations

import math


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
