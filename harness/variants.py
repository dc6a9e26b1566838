"""The named variants `harness run` measures: stage choices composed into one run, read from their registries.

`<device>-<pipeline>` trains MobileNetV2 on that device (pipelines.train.placement.DEVICES) fed by
that pipeline (pipelines.data.online.PIPELINES), `<device>-synthetic` on in-memory tensors (the
model's ceiling); `<device>-synthetic-<masking>` holds an 80% layer-wise pruning mask by each
masking method (pipelines.train.masking.MASKINGS: `masked`, `constraint`, and `zeroed`, the same
zeros not held, which prices the holding) on each device; `data-<pipeline>` runs the pipeline alone, no model, to measure
what it can supply; `preprocess-<engine>` times the offline job that writes the shards `*-offline`
reads (pipelines.engines.ENGINES); `sweep-<executor>` times a small ticket grid through `harness lth`
with that executor (pipelines.executors.EXECUTORS), or with each ticket fit another way
(pipelines.train.fits.FITS: `sweep-elephas`). The catalogue is made on each call, so a choice
registered at run time is a variant at once.

A variant that trains a model (training and sweeps) runs on every Keras backend
(pipelines.backend.BACKENDS), chosen by `--backend`; the others train nothing and take none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.backend import BACKENDS
from pipelines.data.online import MEMORY, PIPELINES
from pipelines.engines import ENGINES
from pipelines.errors import UserInputError
from pipelines.executors import EXECUTORS
from pipelines.train.fits import FITS
from pipelines.train.masking import MASKINGS
from pipelines.train.placement import DEVICES

CEILING_DEVICE = "cpu"  # where the variants that train nothing are filed
TRAINING_MODES = ("train", "sweep")  # the modes that train a model, on a Keras backend
SWEEP_GRID = "a grid of 4 ticket jobs (2 masks x 2 rewinds)"


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    mode: str  # "train": fit the model; "data": run the pipeline alone; "preprocess": the offline job; "sweep"
    device: str
    pipeline: str
    engine: str | None = None  # preprocess: an engine of ENGINES
    masking: str | None = None  # train: hold a pruning mask this way (MASKINGS)
    executor: str | None = None  # sweep: what `harness lth --executor` gets (sweep_choices)

    @property
    def backends(self) -> tuple[str, ...]:
        """The Keras backends `--backend` may choose for this variant: all of them where it trains a
        model, none where it does not."""
        return BACKENDS.names() if self.mode in TRAINING_MODES else ()

    def as_dict(self) -> dict:
        return {**asdict(self), "backends": list(self.backends)}


def sweep_choices() -> dict[str, str]:
    """What `harness lth --executor` takes, with summaries: every executor, then every way to fit a
    ticket other than in process (its tickets then run one after another)."""
    choices = {e.name: e.summary for e in EXECUTORS.entries()}
    choices.update({f.name: f"each ticket fit {f.summary}, one after another" for f in FITS.entries()
                    if f.name != "keras"})
    return choices


def catalogue() -> dict[str, Variant]:
    fed = [p for p in PIPELINES.entries() if p.value.reads != MEMORY]
    variants = [Variant(f"{d.name}-{p.name}", f"{d.summary}, fed by {p.summary}", "train", d.name, p.name)
                for d in DEVICES.entries() for p in fed]
    in_memory = [p for p in PIPELINES.entries() if p.value.reads == MEMORY]
    variants += [Variant(f"{d.name}-{p.name}", f"{d.summary} on {p.summary}", "train", d.name, p.name)
                 for d in DEVICES.entries() for p in in_memory]
    variants += [Variant(f"{d.name}-{p.name}-{m.value.variant}",
                         f"{d.summary} on {p.name} tensors, an 80% layer-wise mask {m.summary}",
                         "train", d.name, p.name, masking=m.name)
                 for d in DEVICES.entries() for p in in_memory for m in MASKINGS.entries()]
    variants += [Variant(f"data-{p.name}", f"the pipeline alone: {p.summary}", "data", CEILING_DEVICE, p.name)
                 for p in fed]
    variants += [Variant(f"preprocess-{e.name}", f"offline preprocessing to shards at the workload's size, {e.summary}",
                         "preprocess", CEILING_DEVICE, "offline", engine=e.name) for e in ENGINES.entries()]
    short = {e.name: e.value.variant for e in EXECUTORS.entries()}
    variants += [Variant(f"sweep-{short.get(name, name)}", f"{SWEEP_GRID}: {summary}", "sweep", CEILING_DEVICE,
                         "parallel", executor=name) for name, summary in sweep_choices().items()]
    return {v.name: v for v in variants}


def get_variant(name: str) -> Variant:
    variants = catalogue()
    if name not in variants:
        raise UserInputError(f"unknown variant {name!r}: known variants are {', '.join(variants)}")
    return variants[name]
