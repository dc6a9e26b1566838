"""The named variants `harness run` measures: a device and a data pipeline composed into one run.

`<device>-<pipeline>` trains MobileNetV2 on cpu, gpu1 or gpu4 fed by that pipeline, and
`<device>-synthetic` on in-memory tensors (the model's ceiling); `cpu-synthetic-masked` and
`cpu-synthetic-constraint` hold a pruning mask, priced against `cpu-synthetic-zeroed` (the same
zeros, not held) and `cpu-synthetic`; `data-<pipeline>` runs the
pipeline alone, no model, to measure what it can supply; `preprocess-<engine>` times the offline
job that writes the shards `*-offline` reads; `sweep-<executor>` times a small ticket grid through
`harness lth` with that executor.
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
DEVICE_SUMMARIES = {
    "cpu": "train on the CPU",
    "gpu1": "train on one GPU (OneDeviceStrategy)",
    "gpu4": "train on four GPUs (MirroredStrategy)",
}
MASKINGS = {
    "zeroed": ("none", "an 80% layer-wise mask's weights zeroed once, not held (prices the holding)"),
    "masked": ("gradient", "an 80% layer-wise mask held by masking gradients in the compiled step"),
    "constraint": ("constraint", "an 80% layer-wise mask held by a Keras kernel constraint"),
}


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    mode: str  # "train": fit the model; "data": run the pipeline alone; "preprocess": the offline job
    device: str
    pipeline: str
    engine: str | None = None  # preprocess: spark or local
    masking: str | None = None  # train: hold a pruning mask this way (pipelines.lth.masking)
    executor: str | None = None  # sweep: the executor that runs the ticket grid


SWEEPS = (
    ("serial", "serial", "one job after another (the baseline)"),
    ("mp", "multiprocessing", "on a pool of --workers processes"),
    ("mpi", "mpi", "on --workers MPI ranks (mpiexec)"),
    ("elephas", "elephas", "each job data-parallel with Elephas over --workers Spark partitions"),
)


def _catalogue() -> dict[str, Variant]:
    variants = [Variant(f"{d}-{p}", f"{ds}, fed by {ps}", "train", d, p)
                for d, ds in DEVICE_SUMMARIES.items() for p, ps in PIPELINE_SUMMARIES.items()]
    variants += [Variant(f"{d}-synthetic", f"{ds} on in-memory synthetic tensors: the model's ceiling", "train", d,
                         "synthetic") for d, ds in DEVICE_SUMMARIES.items()]
    variants += [Variant(f"cpu-synthetic-{name}", f"train on the CPU on synthetic tensors with {summary}", "train",
                         "cpu", "synthetic", masking=masking) for name, (masking, summary) in MASKINGS.items()]
    variants += [Variant(f"data-{p}", f"the pipeline alone: {s}", "data", "cpu", p)
                 for p, s in PIPELINE_SUMMARIES.items()]
    variants += [Variant(f"preprocess-{e}", f"offline preprocessing to shards at the workload's size, {s}",
                         "preprocess", "cpu", "offline", engine=e)
                 for e, s in (("spark", "on Spark in local mode"), ("local", "on a local process pool"))]
    variants += [Variant(f"sweep-{short}", f"a grid of 4 ticket jobs (2 masks x 2 rewinds) {summary}", "sweep", "cpu",
                         "parallel", executor=executor) for short, executor, summary in SWEEPS]
    return {v.name: v for v in variants}


VARIANTS = _catalogue()


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserInputError(f"unknown variant {name!r}: known variants are {', '.join(VARIANTS)}")
    return VARIANTS[name]
