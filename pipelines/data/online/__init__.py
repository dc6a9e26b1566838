"""Online input pipelines: each turns a split into batches of (uint8 images, int64 labels): a tf.data
dataset, or, for those that need no TensorFlow (synthetic, naive, processes), a generator of numpy
batches (see keras_input: Keras and the harness's drain take either; `build` refuses the others
where TensorFlow is not installed).

The pipelines that read image files by index (naive, processes, parallel, vectorized, prefetched)
share one visiting order (`epoch_orders`), so for the same seed they yield the same labels in the
same order and, up to resize rounding, the same pixels (naive's and processes' exactly: both PIL). The two that read a sequential store (cached, offline)
shuffle through a seeded buffer instead, as such pipelines must; with `shuffle=False` every
pipeline yields the examples in path order.

A resumed training's stream starts `spec.start` examples in: the index pipelines draw that
epoch's order and drop what precedes the position, reading no file before it; the sequential
stores read on from their start and skip (cached: decoded images, as its first pass fills the
cache anyway; offline: serialized records, before parsing). Either way the stream after the
position is the one an uninterrupted training reads there.

The pipelines differ in how the work is scheduled, which is what the harness measures.

One module per pipeline, each registered below with what it reads and the pipeline to try next when
it starves the model (the verdict's advice); the variants, the CLI and the benchmarks read `PIPELINES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipelines.backend import require_tensorflow
from pipelines.data.online import cached, naive, offline, parallel, prefetched, processes, synthetic, vectorized
from pipelines.data.online.common import SHUFFLE_BUFFER, PipelineSpec, epoch_orders  # noqa: F401 (the API)
from pipelines.data.online.evaluation import evaluation_dataset  # noqa: F401 (the API)
from pipelines.data.online.keras_input import for_keras, is_tf_dataset  # noqa: F401 (the API)
from pipelines.data.shards import ShardSplit
from pipelines.data.source import Split
from pipelines.errors import UserInputError
from pipelines.registry import Registry

IMAGES, SHARDS, MEMORY = "images", "shards", "memory"  # what a pipeline reads


@dataclass(frozen=True)
class Pipeline:
    build: Callable  # (split, PipelineSpec) -> tf.data.Dataset of batches, or a generator of numpy batches
    reads: str  # IMAGES (an image folder), SHARDS (preprocessed shards) or MEMORY (either: it reads neither)
    faster: str | None = None  # the pipeline to try when this one starves the model
    needs_tensorflow: bool = True  # False: it builds a generator of numpy batches, with no TensorFlow


PIPELINES: Registry[Pipeline] = Registry("pipeline")
PIPELINES.add("naive", Pipeline(naive.build_naive, IMAGES, "parallel", needs_tensorflow=False),
              "a one-thread Python generator decoding with PIL")
PIPELINES.add("processes", Pipeline(processes.build_processes, IMAGES, "offline", needs_tensorflow=False),
              "PIL decoding in one process per usable core, in order, a few batches ahead")
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
PIPELINES.add("synthetic", Pipeline(synthetic.build_synthetic, MEMORY, needs_tensorflow=False),
              "one seeded in-memory batch, repeated: no input cost (the model's ceiling)")


def build(name: str, split: Split | ShardSplit, spec: PipelineSpec):
    return check(name, split, spec.batch_size).build(split, spec)


def check(name: str, split: Split | ShardSplit, batch_size: int = 1) -> Pipeline:
    """The pipeline `name`, refused in one line if it cannot feed batches of `batch_size` from `split`
    here (it reads the other kind of data, needs TensorFlow where none is installed, or the split is
    too small): what `build` checks, for a command to check before it starts work."""
    pipeline = PIPELINES[name]
    if pipeline.needs_tensorflow:
        without = [e.name for e in PIPELINES.entries() if not e.value.needs_tensorflow]
        require_tensorflow(f"the {name} pipeline ({', '.join(without)} run without it)")
    if pipeline.reads == SHARDS and not isinstance(split, ShardSplit):
        raise UserInputError(
            f"the {name} pipeline reads preprocessed shards: run `harness data preprocess SRC OUT` "
            "and pass OUT as --data"
        )
    if pipeline.reads == IMAGES and isinstance(split, ShardSplit):
        raise UserInputError(f"the {name} pipeline reads image files: pass an ImageNet-layout folder as --data")
    if len(split) < batch_size:
        raise UserInputError(
            f"the {split.name} split has {len(split)} images, fewer than one batch of {batch_size}"
        )
    return pipeline
