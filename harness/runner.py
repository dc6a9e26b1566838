"""Runs one variant: builds its stages, runs warm-up plus timed steps, and returns the run record."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.machine import describe_machine
from harness.results import SCHEMA, new_run_id
from harness.timing import StepClock, keras_step_callback
from harness.variants import Variant
from pipelines.data import online
from pipelines.data.ceiling import decode_ceiling
from pipelines.data.shards import ShardSource, ShardSplit
from pipelines.data.source import ImageFolderSource, Split
from pipelines.errors import UserInputError
from pipelines.train.model import build_model, compile_model
from pipelines.train.workloads import Workload

StepCallback = Callable[[int, int], None]  # (steps done, steps planned)


@dataclass(frozen=True)
class RunSettings:
    source: ImageFolderSource | ShardSource
    workload: Workload
    steps: int
    warmup: int
    seed: int = 0
    cache_dir: Path | None = None

    def validate(self) -> None:
        if self.steps < 1:
            raise UserInputError("--steps must be at least 1")
        if self.warmup < 0:
            raise UserInputError("--warmup must be 0 or more")


def warmup_steps(variant: Variant, settings: RunSettings, examples: int) -> int:
    """The requested warm-up, plus one whole epoch for `cached` so that timed steps read a full cache."""
    fill = math.ceil(examples / settings.workload.batch_size) if variant.pipeline == "cached" else 0
    return settings.warmup + fill


def run_variant(variant: Variant, settings: RunSettings, on_step: StepCallback | None = None) -> dict:
    settings.validate()
    workload = settings.workload
    split = settings.source.split("train")
    spec = online.PipelineSpec(image_size=workload.image_size, batch_size=workload.batch_size,
                               seed=settings.seed, cache_dir=str(settings.cache_dir) if settings.cache_dir else None)
    dataset = online.build(variant.pipeline, split, spec)
    warmup = warmup_steps(variant, settings, len(split))
    total = warmup + settings.steps
    report = (lambda done: on_step(done, total)) if on_step else None

    extra: dict = {}
    if variant.mode == "data":
        extra["decode_ceiling"] = _ceiling(split, workload.image_size)
        clock = _drain(dataset, total, report)
    else:
        clock = _fit(dataset, workload, len(settings.source.classes), settings.seed, total, report)
    stats = clock.stats(warmup, workload.batch_size)
    if "decode_ceiling" in extra:
        ceiling = extra["decode_ceiling"]
        extra["fraction_of_ceiling"] = stats.images_per_s / ceiling["images_per_s"] if ceiling else None
    return {
        "schema": SCHEMA,
        "run_id": new_run_id(variant.name),
        "started_at": clock.started_at,
        "variant": variant.name,
        "summary": variant.summary,
        "mode": variant.mode,
        "device": variant.device,
        "pipeline": variant.pipeline,
        "workload": workload.as_dict(),
        "data": {"path": str(settings.source.root.resolve()), "train_images": len(split),
                 "classes": len(settings.source.classes),
                 "kind": "shards" if isinstance(split, ShardSplit) else "image folder"},
        "seed": settings.seed,
        "warmup_steps": warmup,
        "timing": stats.as_dict(),
        **extra,
        "machine": describe_machine(),
    }


def _drain(dataset, total: int, report) -> StepClock:
    """The pipeline alone: pull `total` batches and tick after each."""
    clock = StepClock()
    clock.start()
    for done, _ in enumerate(dataset.take(total), start=1):
        clock.tick()
        if report:
            report(done)
    return clock


def _fit(dataset, workload: Workload, data_classes: int, seed: int, total: int, report) -> StepClock:
    model = build_model(workload, workload.classes_for(data_classes), seed)
    compile_model(model, workload)
    clock = StepClock()
    model.fit(
        dataset,
        epochs=1,
        steps_per_epoch=total,
        shuffle=False,  # the pipeline owns the order
        verbose=0,
        callbacks=[keras_step_callback(clock, report)],
    )
    return clock


def _ceiling(split: Split | ShardSplit, image_size: int) -> dict | None:
    """The decode ceiling on the images behind the split (for shards: the folder they came from)."""
    if isinstance(split, ShardSplit):
        if not Path(split.source_root).is_dir():
            return None
        split = ImageFolderSource(split.source_root).split("train")
    return decode_ceiling(split, image_size)
