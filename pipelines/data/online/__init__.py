"""Online input pipelines: each turns a split into a batched `tf.data.Dataset` of (uint8 images, labels).

The pipelines that read image files by index (naive, parallel, vectorized, prefetched) share one
visiting order (`epoch_orders`), so for the same seed they yield the same labels in the same order
and, up to resize rounding, the same pixels. The two that read a sequential store (cached, offline)
shuffle through a seeded buffer instead, as such pipelines must; with `shuffle=False` every
pipeline yields the examples in path order. They differ in how the work is scheduled, which is what
the harness measures.

One module per pipeline, each registered below with what it reads and the pipeline to try next when
it starves the model (the verdict's advice); the variants, the CLI and the benchmarks read `PIPELINES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipelines.data.online import cached, naive, offline, parallel, prefetched, synthetic, vectorized
from pipelines.data.online.common import SHUFFLE_BUFFER, PipelineSpec, epoch_orders  # noqa: F401 (the API)
from pipelines.data.online.evaluation import evaluation_dataset  # noqa: F401 (the API)
from pipelines.data.shards import ShardSplit
from pipelines.data.source import Split
from pipelines.errors import UserInputError
from pipelines.registry import Registry

IMAGES, SHARDS, MEMORY = "images", "shards", "memory"  # what a pipeline reads


@dataclass(frozen=True)
class Pipeline:
    build: Callable  # (split, PipelineSpec) -> tf.data.Dataset of batches
    reads: str  # IMAGES (an image folder), SHARDS (preprocessed shards) or MEMORY (either: it reads neither)
    faster: str | None = None  # the pipeline to try when this one starves the model


PIPELINES: Registry[Pipeline] = Registry("pipeline")
PIPELINES.add("naive", Pipeline(naive.build_naive, IMAGES, "parallel"),
              "a one-thread Python generator decoding with PIL")
PIPELINES.add("parallel", Pipeline(parallel.build_parallel, IMAGES, "vectorized"),
              "tf.data map(AUTOTUNE) + prefetch")
PIPELINES.add("vectorized", Pipeline(vectorized.build_vectorized, IMAGES, "offline"),
              "tf.data batch, then one map per batch")
PIPELINES.add("cached", Pipeline(cached.build_cached, IMAGES, "offline"),
              "decoded images cached (memory, or --cache-dir); the first epoch fills it")
PIPELINES.add("prefetched", Pipeline(prefetched.build_prefetched, IMAGES, "offline"),
              "parallel, prefetching batches onto the GPU where there is one")
PIPELINES.add("offline", Pipeline(offline.build_offline, SHARDS),
              "preprocessed TFRecord shards (harness data preprocess)")
PIPELINES.add("synthetic", Pipeline(synthetic.build_synthetic, MEMORY),
              "one seeded in-memory batch, repeated: no input cost (the model's ceiling)")


def build(name: str, split: Split | ShardSplit, spec: PipelineSpec):
    pipeline = PIPELINES[name]
    if pipeline.reads == SHARDS and not isinstance(split, ShardSplit):
        raise UserInputError(
            f"the {name} pipeline reads preprocessed shards: run `harness data preprocess SRC OUT` "
            "and pass OUT as --data"
        )
    if pipeline.reads == IMAGES and isinstance(split, ShardSplit):
        raise UserInputError(f"the {name} pipeline reads image files: pass an ImageNet-layout folder as --data")
    if len(split) < spec.batch_size:
        raise UserInputError(
            f"the {split.name} split has {len(split)} images, fewer than one batch of {spec.batch_size}"
        )
    return pipeline.build(split, spec)
