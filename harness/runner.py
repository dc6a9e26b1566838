"""Runs one variant: builds its stages, runs warm-up plus timed steps, and returns the run record."""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.machine import describe_machine
from harness.results import SCHEMA, new_run_id
from harness.quiet import is_verbose
from harness.timing import StepClock, StepStats, keras_step_callback
from harness.variants import Variant
from pipelines.data import online
from pipelines.data.ceiling import CeilingProbe, bracketed_ceiling
from pipelines.data.preprocess import PreprocessSettings, preprocess
from pipelines.data.shards import ShardSource, ShardSplit
from pipelines.data.source import ImageFolderSource, Split
from pipelines.engines import EngineSettings
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
    if variant.mode == "preprocess":
        return _run_preprocess(variant, settings, on_step)
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
        clock, extra["decode_ceiling"] = _drain_between_ceilings(dataset, total, report, split, workload.image_size)
    else:
        clock = _fit(dataset, workload, len(settings.source.classes), settings.seed, total, report)
    stats = clock.stats(warmup, workload.batch_size)
    if variant.mode == "data":
        ceiling = extra["decode_ceiling"]
        extra["fraction_of_ceiling"] = stats.images_per_s / ceiling["images_per_s"] if ceiling else None
    return _record(variant, settings, clock.started_at, len(split), stats, warmup_steps=warmup, **extra)


def _record(variant: Variant, settings: RunSettings, started_at: float, train_images: int, stats: StepStats,
            **extra) -> dict:
    return {
        "schema": SCHEMA,
        "run_id": new_run_id(variant.name),
        "started_at": started_at,
        "variant": variant.name,
        "summary": variant.summary,
        "mode": variant.mode,
        "device": variant.device,
        "pipeline": variant.pipeline,
        "workload": settings.workload.as_dict(),
        "data": {"path": str(settings.source.root.resolve()), "train_images": train_images,
                 "classes": len(settings.source.classes),
                 "kind": "shards" if isinstance(settings.source, ShardSource) else "image folder"},
        "seed": settings.seed,
        "timing": stats.as_dict(),
        **extra,
        "machine": describe_machine(),
    }


def _run_preprocess(variant: Variant, settings: RunSettings, on_step: StepCallback | None) -> dict:
    """The offline job into a scratch folder; a step is a shard, the rate is over the writing span."""
    if not isinstance(settings.source, ImageFolderSource):
        raise UserInputError(f"{variant.name} preprocesses image files: pass an ImageNet-layout folder as --data")
    started_at = time.time()
    with tempfile.TemporaryDirectory(prefix="lth-preprocess-") as scratch:
        result = preprocess(settings.source.root, Path(scratch) / "shards",
                            PreprocessSettings(size=settings.workload.image_size, seed=settings.seed),
                            EngineSettings(engine=variant.engine, quiet=not is_verbose()), progress=on_step)
    timing = result["timing"]
    stats = StepStats.of(timing["images"], timing["work_span_s"], timing["shard_s"])
    return _record(variant, settings, started_at, result["splits"]["train"]["examples"], stats,
                   engine=variant.engine, wall_s=timing["wall_s"], wall_images_per_s=timing["wall_images_per_s"],
                   failed_files=len(result["failed"]))


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


def _drain_between_ceilings(dataset, total: int, report, split: Split | ShardSplit,
                            image_size: int) -> tuple[StepClock, dict | None]:
    """Drain the pipeline with the decode ceiling measured just before and just after.

    For shards the ceiling is measured on the image folder they were made from, if it is still there.
    """
    if isinstance(split, ShardSplit):
        if not Path(split.source_root).is_dir():
            return _drain(dataset, total, report), None
        split = ImageFolderSource(split.source_root).split("train")
    with CeilingProbe(split, image_size) as probe:
        before = probe.measure()
        clock = _drain(dataset, total, report)
        after = probe.measure()
    return clock, bracketed_ceiling(before, after, probe.sample, len(probe.cores))
