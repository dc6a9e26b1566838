"""Runs one variant: builds its stages, fits for warm-up plus timed steps, and returns the run record."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from harness.machine import describe_machine
from harness.results import SCHEMA, new_run_id
from harness.timing import StepClock, keras_step_callback
from harness.variants import Variant
from pipelines.data import online
from pipelines.data.source import ImageFolderSource
from pipelines.errors import UserInputError
from pipelines.train.model import build_model, compile_model
from pipelines.train.workloads import Workload


@dataclass(frozen=True)
class RunSettings:
    source: ImageFolderSource
    workload: Workload
    steps: int
    warmup: int
    seed: int = 0

    def validate(self) -> None:
        if self.steps < 1:
            raise UserInputError("--steps must be at least 1")
        if self.warmup < 0:
            raise UserInputError("--warmup must be 0 or more")


def run_variant(variant: Variant, settings: RunSettings, on_step: Callable[[int], None] | None = None) -> dict:
    settings.validate()
    workload = settings.workload
    source = settings.source
    split = source.split("train")
    spec = online.PipelineSpec(image_size=workload.image_size, batch_size=workload.batch_size, seed=settings.seed)
    dataset = online.build(variant.pipeline, split, spec)

    num_classes = workload.classes_for(len(source.classes))
    model = build_model(workload, num_classes, settings.seed)
    compile_model(model, workload)

    clock = StepClock()
    started_at = time.time()
    model.fit(
        dataset,
        epochs=1,
        steps_per_epoch=settings.warmup + settings.steps,
        shuffle=False,  # the pipeline owns the order
        verbose=0,
        callbacks=[keras_step_callback(clock, on_step)],
    )
    stats = clock.stats(settings.warmup, workload.batch_size)
    return {
        "schema": SCHEMA,
        "run_id": new_run_id(variant.name),
        "started_at": started_at,
        "variant": variant.name,
        "summary": variant.summary,
        "device": variant.device,
        "pipeline": variant.pipeline,
        "workload": workload.as_dict(),
        "data": {"path": str(source.root.resolve()), "train_images": len(split),
                 "classes": len(source.classes)},
        "seed": settings.seed,
        "warmup_steps": settings.warmup,
        "timing": stats.as_dict(),
        "machine": describe_machine(),
    }
