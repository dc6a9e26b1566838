"""The shapes of what the report, `harness compare` and the planner read: run records and LTH searches.

TypedDicts, declared once: the code that reads a record is annotated with them, and `harness.shapes`
checks each file against them when it is read, so that code can trust every field they list. They
list only what that code reads; a run record holds more (see the README). `NotRequired[X | None]`
fields may be absent or null, and are read with `.get`; `Positive` numbers are finite and above 0
(they are divided by and sorted); `Any` is any JSON value (chart series handed to plotly as they are).
No `from __future__ import annotations` here: TypedDict sees NotRequired only in evaluated annotations.
"""

from typing import Annotated, Any, NotRequired, TypedDict

POSITIVE = "positive"
Positive = Annotated[float, POSITIVE]


class Recipe(TypedDict):
    """How the run trained (pipelines.train.recipes.Recipe)."""

    optimizer: str
    learning_rate: float
    warmup: str
    schedule: str
    milestones: list[int]
    gamma: float
    weight_decay: float
    label_smoothing: float
    batch_size: int


class Workload(TypedDict):
    name: str
    batch_size: int  # per replica (the recipe's)
    recipe: NotRequired[Recipe | None]  # absent from records made before recipes


class Timing(TypedDict):
    images_per_s: Positive
    imagenet_epoch_s: float
    step_p50_s: float
    step_p90_s: float
    steps: int
    step_times_s: list[float]


class Git(TypedDict):
    commit: NotRequired[str | None]
    dirty: NotRequired[bool | None]


class Machine(TypedDict):
    host: str
    cpu_model: str
    usable_cores: int
    git: Git


class Placement(TypedDict):
    label: str
    logical: bool


class CpuSamples(TypedDict):
    per_core_pct: list[list[float]]
    mean_pct: NotRequired[float | None]


class GpuDevice(TypedDict):
    index: int
    util_pct: list[Any]
    sm_occupancy_available: bool
    sm_occupancy_pct: list[Any]


class GpuSamples(TypedDict):
    available: bool
    reason: NotRequired[str | None]
    mean_util_pct: NotRequired[float | None]
    mean_sm_occupancy_pct: NotRequired[float | None]
    devices: list[GpuDevice]


class SamplerCost(TypedDict):
    share_of_cpu: NotRequired[float | None]


class Monitor(TypedDict):
    t_s: list[float]
    timed_window_s: tuple[float, float]
    cpu: CpuSamples
    gpu: GpuSamples
    cost: SamplerCost


class Verdict(TypedDict):
    bound: str
    advice: str
    run_images_per_s: float
    model_ceiling_images_per_s: float
    pipeline_supply_images_per_s: float
    input_wait_pct: NotRequired[float | None]
    input_wait_source: NotRequired[str | None]


class TopOp(TypedDict):
    name: str
    type: str
    self_time_us: float
    self_time_share: float


class ProfiledDevice(TypedDict):
    """The accelerator's figures from xprof's overview page (absent for a CPU-only trace)."""

    hardware: str
    duty_cycle_pct: float
    idle_pct: float


class Profile(TypedDict):
    steps: int
    logdir: str
    input_bound_pct: NotRequired[float | None]
    top_ops: list[TopOp]
    step_ms_mean: NotRequired[float | None]
    device: NotRequired[ProfiledDevice | None]
    notes: NotRequired[list[str] | None]  # what the summary lacks, and why (e.g. a JAX trace's input share)


class DecodeCeiling(TypedDict):
    images_per_s: NotRequired[float | None]


class Sweep(TypedDict):
    """What the report reads of a sweep; the planner also reads each job's span (checked there)."""

    workers: int
    makespan_s: float


class RunRecord(TypedDict):
    run_id: str
    started_at: float
    variant: str
    summary: str
    mode: str
    device: str
    pipeline: str
    workload: Workload
    timing: Timing
    machine: Machine
    # The Keras backend that trained (None: the run trained no model). Absent from records made before
    # there was a choice, which all trained on TensorFlow: read it with harness.figures.backend_of.
    backend: NotRequired[str | None]
    masking: NotRequired[str | None]
    placement: NotRequired[Placement | None]
    monitor: NotRequired[Monitor | None]
    verdict: NotRequired[Verdict | None]
    profile: NotRequired[Profile | None]
    decode_ceiling: NotRequired[DecodeCeiling | None]
    fraction_of_ceiling: NotRequired[float | None]
    sweep: NotRequired[Sweep | None]  # present in mode "sweep"


class Dense(TypedDict):
    top1: float
    epochs: int


class DenseMean(TypedDict):
    """The dense top-1 over replicates (sample sd; 0.0 when n is 1)."""

    n: int
    top1_mean: float
    top1_sd: float


# A rewind point's label is an epoch count (2) or a string of iterations ("500it"), null for a control:
# `Any`, because harness.shapes checks a union against its first type only.
RewindLabel = Any


class TicketRow(TypedDict):
    control: bool
    rewind: NotRequired[RewindLabel]
    rewind_step: NotRequired[int | None]  # the rewind point in optimizer steps, which orders the points
    mode: NotRequired[str | None]  # retraining mode: weight (also when absent), lr, finetune; null for a control
    actual_sparsity: float
    top1: float


class TicketMean(TypedDict):
    """A ticket's top-1 over its replicates, at their mean sparsity: a `matching` entry."""

    rewind: RewindLabel
    rewind_step: int | None
    mode: str | None
    mask_id: str
    actual_sparsity: float
    top1_mean: float


class AggregateRow(TicketMean):
    """One row per mask, rewind point, mode and control, over the replicates."""

    control: bool
    n: int
    top1_sd: float


class StabilityPoint(TypedDict):
    network: str  # "dense" or a mask id
    actual_sparsity: float
    rewind: RewindLabel
    rewind_step: int


class StabilityRow(StabilityPoint):
    """The error barrier between two copies of a network trained on from one rewind point (one replicate)."""

    barrier: float


class StabilityAggregate(StabilityPoint):
    n: int
    barrier_mean: float
    barrier_sd: float


class SearchSummary(TypedDict):
    """An LTH search's summary.json, as the report's lottery-ticket charts read it; the keys that
    replicates, retraining modes and `--stability` added are absent from older summaries."""

    dense: Dense  # replicate 0's run
    tickets: list[TicketRow]
    dense_mean: NotRequired[DenseMean | None]
    aggregate: NotRequired[list[AggregateRow] | None]
    matching: NotRequired[list[TicketMean] | None]  # per rewind point and mode, the sparsest matching ticket
    stability: NotRequired[list[StabilityRow] | None]
    stability_aggregate: NotRequired[list[StabilityAggregate] | None]


class JsonObject(TypedDict, total=False):
    """Any JSON object: what an LTH search's run.json must be (its workload and epochs are only printed)."""
