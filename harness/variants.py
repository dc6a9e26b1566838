"""The named variants `harness run` measures: a device and a data pipeline composed into one run.

`cpu-<pipeline>` trains MobileNetV2 on the CPU fed by that pipeline; `data-<pipeline>` runs the
pipeline alone, no model, to measure what it can supply; `preprocess-<engine>` times the offline
job that writes the shards `*-offline` reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.errors import UserInputError

PIPELINE_SUMMARIES = {
    "naive": "a one-thread Python generator decoding with PIL",
    "parallel": "tf.data map(AUTOTUNE) + prefetch",
    "vectorized": "tf.data batch, then one map per batch",
    "cached": "decoded images cached (memory, or --cache-dir); the first epoch fills it",
    "prefetched": "parallel, prefetching batches onto the GPU where there is one",
    "offline": "preprocessed TFRecord shards (harness data preprocess)",
}


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    mode: str  # "train": fit the model; "data": run the pipeline alone; "preprocess": the offline job
    device: str
    pipeline: str
    engine: str | None = None  # preprocess: spark or local


def _catalogue() -> dict[str, Variant]:
    variants = [Variant(f"cpu-{p}", f"train on the CPU, fed by {s}", "train", "cpu", p)
                for p, s in PIPELINE_SUMMARIES.items()]
    variants += [Variant(f"data-{p}", f"the pipeline alone: {s}", "data", "cpu", p)
                 for p, s in PIPELINE_SUMMARIES.items()]
    variants += [Variant(f"preprocess-{e}", f"offline preprocessing to shards at the workload's size, {s}",
                         "preprocess", "cpu", "offline", engine=e)
                 for e, s in (("spark", "on Spark in local mode"), ("local", "on a local process pool"))]
    return {v.name: v for v in variants}


VARIANTS = _catalogue()


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserInputError(f"unknown variant {name!r}: known variants are {', '.join(VARIANTS)}")
    return VARIANTS[name]
