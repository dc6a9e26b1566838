"""What every suite shares: the data sets (built once, kept under data/asv*), the scale, one run.

LTH_BENCH_SCALE=quick (CI's dry run) shrinks everything to seconds: a 3-class data set, the smoke
workload, a few steps. Without it the suite measures the default workload on a 1,000-image set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scale:
    name: str
    classes: int
    train_per_class: int
    workload: str
    steps: int
    warmup: int


SCALES = {
    "full": Scale("full", classes=10, train_per_class=100, workload="small", steps=40, warmup=5),
    "quick": Scale("quick", classes=3, train_per_class=16, workload="smoke", steps=2, warmup=1),
}


def scale() -> Scale:
    return SCALES[os.environ.get("LTH_BENCH_SCALE", "full")]


def image_folder() -> Path:
    """The suite's image data set (built on first use; the same seed gives the same bytes)."""
    from pipelines.data.synth import SynthSpec, build

    chosen = scale()
    folder = ROOT / "data" / f"asv-{chosen.name}"
    build(folder, SynthSpec(classes=chosen.classes, train_per_class=chosen.train_per_class, val_per_class=4, seed=0))
    return folder


def shards() -> Path:
    """The data set preprocessed for the offline pipeline, at the workload's size."""
    from pipelines.data.preprocess import PreprocessSettings, preprocess
    from pipelines.engines import EngineSettings
    from pipelines.train.workloads import get_workload

    source = image_folder()
    out = source.with_name(source.name + "-shards")
    size = get_workload(scale().workload).image_size
    preprocess(source, out, PreprocessSettings(size=size), EngineSettings(engine="local"))  # no-op once complete
    return out


def run(variant: str, data: Path | None = None, **settings) -> dict:
    """One `harness run` of `variant` at the suite's scale, without the monitor unless asked; its record."""
    from harness.quiet import preload_keras, silence
    from harness.runner import RunSettings, run_variant
    from harness.variants import get_variant
    from pipelines.data.shards import open_source
    from pipelines.train.workloads import get_workload

    silence(verbose=False)
    preload_keras()
    chosen = scale()
    options = {"steps": chosen.steps, "warmup": chosen.warmup, "sample_interval_s": 0, "verdict": False, **settings}
    return run_variant(get_variant(variant), RunSettings(source=open_source(data or image_folder()),
                                                         workload=get_workload(chosen.workload), **options))


def require_gpus(device: str) -> None:
    """asv reports a benchmark whose setup raises NotImplementedError as skipped (n/a)."""
    from pipelines.gpus import list_gpus
    from pipelines.train.placement import DEVICES

    needed = DEVICES[device].gpus
    if len(list_gpus()) < needed:
        raise NotImplementedError(f"{device} needs {needed} GPU(s)")
