"""Runs one variant: builds its stages, runs warm-up plus timed steps, and returns the run record."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.machine import describe_machine
from harness import verdict
from harness.results import SCHEMA, new_run_id
from harness.quiet import is_verbose
from harness.samplers import Sampler
from harness.sweep_bench import time_sweep
from harness.timing import StepClock, StepStats, drain, keras_step_callback
from harness.variants import Variant
from pipelines.capacity import WORKERS_HELP
from pipelines.data import online
from pipelines.data.ceiling import CeilingProbe, bracketed_ceiling
from pipelines.data.preprocess import PreprocessSettings, preprocess
from pipelines.data.shards import ShardSource, ShardSplit, naming_bad_input
from pipelines.data.source import ImageFolderSource, Split
from pipelines.engines import EngineSettings
from pipelines.backend import DEFAULT as DEFAULT_BACKEND
from pipelines.errors import UserInputError
from pipelines.settings import setting
from pipelines.lth.masks import MaskSpec, model_masks
from pipelines.train.model import build_model
from pipelines.train.placement import DEVICES, PlacementSpec, place
from pipelines.train.recipe_schedule import ScheduleLength
from pipelines.train.trainer import TrainSetup
from pipelines.train.workloads import Workload

StepCallback = Callable[[int, int], None]  # (steps done, steps planned)
VERDICT_WARMUP = 3  # untimed steps before each verdict measurement


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    source: ImageFolderSource | ShardSource
    workload: Workload
    steps: int = setting(50, "Timed steps.")
    warmup: int = setting(5, "Untimed steps before them (*-cached adds one epoch to fill its cache).")
    seed: int = setting(0, "Data order, initialization and synthetic batches.")
    cache_dir: Path | None = setting(None, "*-cached: cache decoded images in a file there instead of in memory.")
    backend: str = DEFAULT_BACKEND
    logical_devices: int | None = None
    precision: str = "float32"
    jit: bool = False
    workers: int = setting(2, f"sweep-*: the executor's workers. {WORKERS_HELP}")
    sample_interval_s: float = setting(0.25, "Seconds between GPU/CPU samples; 0 runs without the monitor.")
    profile_root: Path | None = None  # training: profile steps after the timed ones into a folder here
    profile_steps: int = setting(5, "Training, with --profile: steps profiled after the timed ones.")
    verdict: bool = True  # training: measure the model ceiling and the pipeline supply after the run

    def validate(self) -> None:
        if self.steps < 1:
            raise UserInputError("--steps must be at least 1")
        if not (self.sample_interval_s >= 0 and math.isfinite(self.sample_interval_s)):
            raise UserInputError("--sample-interval must be 0 (no monitor) or more seconds")
        if self.profile_steps < 1:
            raise UserInputError("--profile-steps must be at least 1")
        if self.warmup < 0:
            raise UserInputError("--warmup must be 0 or more")
        if self.workers < 1:
            raise UserInputError("--workers must be at least 1")

    def training_steps(self, variant: Variant, examples: int, global_batch: int) -> int:
        """Every step a training run takes: warm-up, timed and profiled."""
        profiled = self.profile_steps if self.profile_root else 0
        return warmup_steps(variant, self, examples, global_batch) + self.steps + profiled

    def schedule_length(self, variant: Variant, global_batch: int) -> ScheduleLength:
        """What the learning-rate schedule spans: the whole epochs that cover the run's steps."""
        examples = len(self.source.split("train"))
        steps_per_epoch = examples // global_batch
        epochs = math.ceil(self.training_steps(variant, examples, global_batch) / max(steps_per_epoch, 1))
        return ScheduleLength(epochs, steps_per_epoch)

    def check_schedule(self, variant: Variant) -> None:
        """The recipe's warm-up and milestones against the run's length, before any work."""
        length = self.schedule_length(variant, self.workload.batch_size * max(DEVICES[variant.device].gpus, 1))
        self.workload.recipe.check_length(length.epochs, length.steps_per_epoch)

    def placement_spec(self, variant: Variant) -> PlacementSpec:
        return PlacementSpec(backend=self.backend, device=variant.device, logical_devices=self.logical_devices,
                             precision=self.precision, jit=self.jit)

    def pipeline_spec(self, batch_size: int) -> online.PipelineSpec:
        return online.PipelineSpec(image_size=self.workload.image_size, batch_size=batch_size, seed=self.seed,
                                   cache_dir=str(self.cache_dir) if self.cache_dir else None)


def warmup_steps(variant: Variant, settings: RunSettings, examples: int, batch_size: int) -> int:
    """The requested warm-up, plus one whole epoch for `cached` so that timed steps read a full cache."""
    fill = math.ceil(examples / batch_size) if variant.pipeline == "cached" else 0
    return settings.warmup + fill


@dataclass
class RunContext:
    """What one run's stages share: its id, the progress callback and the monitor around it."""

    run_id: str
    on_step: StepCallback | None
    monitor: Sampler | None

    def report(self, total: int):
        return (lambda done: self.on_step(done, total)) if self.on_step else None

    def mark_timed(self, clock: StepClock, warmup: int, timed: int) -> None:
        if self.monitor:
            self.monitor.mark_timed(clock.stamps[warmup], clock.stamps[warmup + timed])


def run_variant(variant: Variant, settings: RunSettings, on_step: StepCallback | None = None) -> dict:
    """Run the variant under the monitor (unless its interval is 0); the record carries the samples."""
    settings.validate()
    runner = {"preprocess": _run_preprocess, "data": _run_data, "train": _run_training,
              "sweep": _run_sweep}[variant.mode]
    monitor = Sampler(settings.sample_interval_s) if settings.sample_interval_s else None
    context = RunContext(new_run_id(variant.name), on_step, monitor)
    with monitor or contextlib.nullcontext():
        record = runner(variant, settings, context)
    record["monitor"] = monitor.summary() if monitor else None
    return record


def _run_data(variant: Variant, settings: RunSettings, context: RunContext) -> dict:
    """The pipeline alone, bracketed by decode-ceiling measurements."""
    split = settings.source.split("train")
    batch = settings.workload.batch_size
    dataset = online.build(variant.pipeline, split, settings.pipeline_spec(batch))
    warmup = warmup_steps(variant, settings, len(split), batch)
    total = warmup + settings.steps
    with naming_bad_input(settings.source, "train"):
        clock, ceiling = _drain_between_ceilings(dataset, total, context.report(total), split,
                                                 settings.workload.image_size)
    context.mark_timed(clock, warmup, settings.steps)
    stats = clock.stats(warmup, batch)
    fraction = stats.images_per_s / ceiling["images_per_s"] if ceiling else None
    return _record(variant, settings, context, clock.started_at, len(split), stats, warmup_steps=warmup,
                   decode_ceiling=ceiling, fraction_of_ceiling=fraction)


def _run_training(variant: Variant, settings: RunSettings, context: RunContext) -> dict:
    """Warm-up and timed steps, then (optionally) profiled steps, then the verdict's two measurements."""
    placement = place(settings.placement_spec(variant))  # first: logical devices precede any TF op
    global_batch = placement.global_batch(settings.workload.batch_size)
    setup = TrainSetup(source=settings.source, workload=settings.workload, placement=placement,
                       pipeline=variant.pipeline, seed=settings.seed,
                       cache_dir=str(settings.cache_dir) if settings.cache_dir else None,
                       epochs=settings.schedule_length(variant, global_batch).epochs)
    masks = _pricing_masks(setup) if variant.masking else None
    model = setup.model(masks=masks, masking=variant.masking or "gradient")
    dataset, _ = setup.train_dataset()
    examples = len(settings.source.split("train"))
    warmup = warmup_steps(variant, settings, examples, setup.global_batch)
    profiled = settings.profile_steps if settings.profile_root else 0
    total = settings.training_steps(variant, examples, setup.global_batch)
    clock = StepClock()
    callbacks = [keras_step_callback(clock, context.report(total))]
    if profiled:
        from harness.profiler import profile_callback

        profile_dir = Path(settings.profile_root) / context.run_id
        callbacks.append(profile_callback(profile_dir, first_step=warmup + settings.steps, steps=profiled))
    with naming_bad_input(settings.source, "train"):
        model.fit(dataset, epochs=1, steps_per_epoch=total, shuffle=False, verbose=0, callbacks=callbacks)
    context.mark_timed(clock, warmup, settings.steps)
    stats = clock.stats(warmup, setup.global_batch, timed=settings.steps)
    extra = {}
    if profiled:
        from harness.profiler import summarize_profile

        extra["profile"] = {"logdir": str(profile_dir.resolve()), "steps": profiled,
                            **summarize_profile(profile_dir, settings.backend)}
    if settings.verdict and variant.pipeline != "synthetic":
        with naming_bad_input(settings.source, "train"):
            extra["verdict"] = _verdict(variant, settings, setup, model, dataset, stats,
                                        extra.get("profile", {}).get("input_bound_pct"))
    return _record(variant, settings, context, clock.started_at, examples, stats, warmup_steps=warmup,
                   placement=placement.describe(), global_batch=setup.global_batch, masking=variant.masking, **extra)


def _verdict(variant: Variant, settings: RunSettings, setup: TrainSetup, model, dataset, stats: StepStats,
             input_bound_pct: float | None) -> dict:
    """The model ceiling (this model on synthetic tensors) and the supply (this pipeline alone), judged.

    Both run after the timed steps on the same compiled model and the same dataset object (a cached
    pipeline's cache is already full), each over as many steps as the run timed, at most 30.
    """
    steps = min(settings.steps, 30)
    synthetic, _ = dataclasses.replace(setup, pipeline="synthetic").train_dataset()
    ceiling = verdict.measure_model_ceiling(model, synthetic, steps, VERDICT_WARMUP, setup.global_batch)
    supply = verdict.measure_supply(dataset, steps, VERDICT_WARMUP, setup.global_batch)
    judged = verdict.judge(stats.images_per_s, ceiling, supply, variant.device, variant.pipeline, input_bound_pct,
                           backend=settings.backend)
    return {**judged, "steps": steps}


def _run_sweep(variant: Variant, settings: RunSettings, context: RunContext) -> dict:
    """The fixed ticket grid through `harness lth --executor`; see harness.sweep_bench."""
    if not isinstance(settings.source, ImageFolderSource):
        raise UserInputError(f"{variant.name} retrains tickets on image files: pass an ImageNet-layout folder as --data")
    started_at = time.time()
    stats, extra = time_sweep(variant.executor, settings.workers, settings.source.root, settings.workload.name,
                              settings.seed, settings.backend, context.on_step)
    return _record(variant, settings, context, started_at, len(settings.source.split("train")), stats, **extra)


def _pricing_masks(setup: TrainSetup) -> dict:
    """The mask the masked variants hold: 80% of each layer's initial weights, by magnitude."""
    with setup.placement.strategy.scope():
        model = build_model(setup.workload, setup.num_classes, setup.seed, setup.placement.spec.precision)
    return model_masks(model, MaskSpec("layer", sparsity=0.8))


def _record(variant: Variant, settings: RunSettings, context: RunContext, started_at: float, train_images: int,
            stats: StepStats, **extra) -> dict:
    return {
        "schema": SCHEMA,
        "run_id": context.run_id,
        "started_at": started_at,
        "variant": variant.name,
        "summary": variant.summary,
        "mode": variant.mode,
        "backend": settings.backend if variant.backends else None,  # None: the run trains no model
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


def _run_preprocess(variant: Variant, settings: RunSettings, context: RunContext) -> dict:
    """The offline job into a scratch folder; a step is a shard, the rate is over the writing span."""
    if not isinstance(settings.source, ImageFolderSource):
        raise UserInputError(f"{variant.name} preprocesses image files: pass an ImageNet-layout folder as --data")
    started_at = time.time()
    with tempfile.TemporaryDirectory(prefix="lth-preprocess-") as scratch:
        result = preprocess(settings.source.root, Path(scratch) / "shards",
                            PreprocessSettings(size=settings.workload.image_size, seed=settings.seed),
                            EngineSettings(engine=variant.engine, quiet=not is_verbose()), progress=context.on_step)
    timing = result["timing"]
    stats = StepStats.of(timing["images"], timing["work_span_s"], timing["shard_s"])
    return _record(variant, settings, context, started_at, result["splits"]["train"]["examples"], stats,
                   engine=variant.engine, wall_s=timing["wall_s"], wall_images_per_s=timing["wall_images_per_s"],
                   failed_files=len(result["failed"]))


def _drain_between_ceilings(dataset, total: int, report, split: Split | ShardSplit,
                            image_size: int) -> tuple[StepClock, dict | None]:
    """Drain the pipeline with the decode ceiling measured just before and just after.

    For shards the ceiling is measured on the image folder they were made from, if it is still there.
    """
    if isinstance(split, ShardSplit):
        if not Path(split.source_root).is_dir():
            return drain(dataset, total, report), None
        split = ImageFolderSource(split.source_root).split("train")
    with CeilingProbe(split, image_size) as probe:
        before = probe.measure()
        clock = drain(dataset, total, report)
        after = probe.measure()
    return clock, bracketed_ceiling(before, after, probe.sample, len(probe.cores))
