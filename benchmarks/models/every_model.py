"""Every registered network, on one Keras backend: it builds, an ERK mask at 90% empties no layer, and one
training step with that mask held leaves the pruned weights at zero while the kept ones move.

    KERAS_BACKEND=jax python benchmarks/models/every_model.py [MODEL ...]

Prints one line per model (weights, kinds, seconds) and exits 1 if any model fails a check.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from dataclasses import replace

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pipelines.lth.masks import MaskSpec, model_masks, sparsity_report  # noqa: E402
from pipelines.train.model import build_model, kernel_kinds, kernel_values  # noqa: E402
from pipelines.train.models import MODELS  # noqa: E402
from pipelines.train.recipe import compile_model  # noqa: E402
from pipelines.train.recipe_schedule import ScheduleLength  # noqa: E402
from pipelines.train.recipes import Recipe  # noqa: E402
from pipelines.train.workloads import get_workload  # noqa: E402

SIZE, CLASSES, BATCH = 32, 10, 4


def check(name: str) -> list[str]:
    """What is wrong with model `name` (nothing: an empty list), printing its line."""
    started = time.time()
    workload = replace(get_workload("smoke"), model=name, image_size=SIZE)
    model = build_model(workload, CLASSES, seed=0)
    kinds = kernel_kinds(model)
    masks = model_masks(model, MaskSpec("erk", 0.9))
    report = sparsity_report(masks, kinds)
    problems = [f"erk 90% empties {report['collapsed_layers']}"] if report["collapsed_layers"] else []
    compile_model(model, Recipe(optimizer="sgd", learning_rate=0.01, batch_size=BATCH), ScheduleLength(1, 1),
                  masks=masks)
    rng = np.random.default_rng(0)
    before = kernel_values(model)
    model.fit(rng.integers(0, 256, (BATCH, SIZE, SIZE, 3), dtype=np.uint8), rng.integers(0, CLASSES, BATCH),
              batch_size=BATCH, epochs=1, verbose=0)
    after = kernel_values(model)
    if any(after[path][~mask].any() for path, mask in masks.items()):
        problems.append("a pruned weight moved")
    if not any((after[path][mask] != before[path][mask]).any() for path, mask in masks.items()):
        problems.append("no kept weight moved")
    counts = ", ".join(f"{kind} {n}" for kind, n in collections.Counter(kinds.values()).items())
    print(f"{name:<20} {report['weights']:>11,} weights, {report['sparsity']:.4f} pruned; {counts}; "
          f"{time.time() - started:.1f} s: {'ok' if not problems else '; '.join(problems)}", flush=True)
    return problems


def main(names: list[str]) -> int:
    import keras

    print(f"Keras {keras.__version__} on {keras.backend.backend()}: {SIZE} px, {CLASSES} classes, erk 90%, one step")
    names = names or list(MODELS)
    failed = [name for name in names if check(name)]
    print(f"{len(names) - len(failed)} of {len(names)} models pass" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
