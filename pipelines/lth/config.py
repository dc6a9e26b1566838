"""Everything a lottery-ticket job needs, as plain values, so that any executor can ship it anywhere."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pipelines.data.online import PIPELINES
from pipelines.errors import UserInputError
from pipelines.lth.layout import SearchFolder
from pipelines.settings import setting
from pipelines.lth.masks import OVER_MODES, SCOPES, MaskSpec
from pipelines.train.fits import FitSettings
from pipelines.train.masking import MASKINGS
from pipelines.train.placement import DEVICES, PlacementSpec
from pipelines.train.recipes import Recipe
from pipelines.train.workloads import WORKLOADS, Workload, get_workload

SCHEDULES = ("oneshot", "iterative")


@dataclass(frozen=True, kw_only=True)
class LthConfig:
    data: str = setting("data/default", "ImageNet-layout folder (train/ and val/), or preprocessed shards.")
    out: str = setting(help="Folder for checkpoints, masks, results.")
    workload: str = setting("small", "How big a MobileNetV2, at which resolution, with which batch.",
                            choices=WORKLOADS)
    epochs: int = setting(4, "Dense training epochs.")
    rewinds: tuple[int, ...] = setting((0, 1, 2), "Rewind epochs (late resetting); 0 is the initialization.")
    sparsities: tuple[float, ...] = setting((0.5, 0.8, 0.9), "Target sparsities (none when --threshold is given).")
    thresholds: tuple[float, ...] = setting((), "Absolute magnitudes to prune at or below, instead of sparsities "
                                                "(global scope).")
    scope: str = setting("global", "How a sparsity is spread over the layers.", choices=SCOPES)
    keep_dense: tuple[str, ...] = setting((), "Layer kinds left unpruned: any of stem, depthwise, classifier.")
    sparsity_over: str = setting("all", "With --keep-dense: the target sparsity is a share of all prunable "
                                        "weights (the rest pruned harder) or of the rest.", choices=lambda: OVER_MODES)
    schedule: str = setting("oneshot", "One-shot masks, or the sparsities as iterative rounds.",
                            choices=lambda: SCHEDULES)
    control: bool = False  # also train each mask from a fresh random initialization
    allow_collapse: bool = setting(False, "Train masks that prune whole layers (warns instead of refusing).")
    masking: str = setting("gradient", "How the mask is held in the training step.", choices=MASKINGS)
    pipeline: str = setting("parallel", "The online pipeline that feeds every training run (harness variants lists "
                                        "them).", choices=PIPELINES)
    seed: int = setting(0, "Initialization, data order and control draws.")
    recipe: Recipe | None = None  # how every run trains (None: the workload's recipe)
    deterministic: bool = True
    placement: PlacementSpec = field(default_factory=PlacementSpec)
    fit: FitSettings = field(default_factory=FitSettings)  # how each ticket is fit; not part of the identity

    @property
    def root(self) -> Path:
        return Path(self.out)

    @property
    def folder(self) -> SearchFolder:
        return SearchFolder(self.root)

    @property
    def training_workload(self) -> Workload:
        """The workload, with this search's recipe."""
        workload = get_workload(self.workload)
        return replace(workload, recipe=self.recipe) if self.recipe else workload

    def check_schedule(self, train_images: int) -> None:
        """The recipe's warm-up and milestones against the dense run's length, which in steps depends
        on the training split's size (and the replicas that share each global batch)."""
        workload = self.training_workload
        global_batch = workload.batch_size * max(DEVICES[self.placement.device].gpus, 1)
        workload.recipe.check_length(self.epochs, train_images // global_batch)

    def validate(self) -> None:
        if self.epochs < 1:
            raise UserInputError("--epochs must be at least 1")
        if not self.rewinds or any(not 0 <= k < self.epochs for k in self.rewinds):
            raise UserInputError(f"--rewind epochs must lie in [0, {self.epochs}): got {list(self.rewinds)}")
        _refuse_repeats("--rewind", [str(k) for k in self.rewinds], self.rewinds)
        if bool(self.sparsities) == bool(self.thresholds):
            raise UserInputError("give target sparsities (--sparsity) or absolute magnitudes (--threshold), one of them")
        SCOPES.entry(self.scope)
        specs = self.mask_specs()
        for spec in specs:
            spec.validate()
        _refuse_repeats("--sparsity" if self.sparsities else "--threshold", [s.mask_id for s in specs],
                        self.sparsities or self.thresholds)
        if self.schedule not in SCHEDULES:
            raise UserInputError(f"unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.schedule == "iterative" and (self.thresholds or list(self.sparsities) != sorted(set(self.sparsities))):
            raise UserInputError("--schedule iterative takes increasing target sparsities, one per round")
        MASKINGS.entry(self.masking)
        PIPELINES.entry(self.pipeline)
        self.training_workload.recipe.validate()
        self.fit.validate()
        self.placement.validate()

    def mask_specs(self) -> list[MaskSpec]:
        """One mask per target sparsity, or per absolute threshold."""
        kept = {"keep_dense": self.keep_dense, "sparsity_over": self.sparsity_over}
        return [MaskSpec(self.scope, sparsity=s, **kept) for s in self.sparsities] or \
               [MaskSpec(self.scope, threshold=t, **kept) for t in self.thresholds]

    def identity(self) -> dict:
        """What fixes the dense run and the masks: a rerun into the same folder must agree on it."""
        keys = ("data", "workload", "epochs", "seed", "pipeline")
        placement = {k: v for k, v in asdict(self.placement).items() if k != "threads"}  # a share, not a setting
        return {**{k: getattr(self, k) for k in keys}, "rewind_grid": sorted(self.rewinds), "placement": placement,
                "recipe": self.training_workload.recipe.as_dict()}


def _refuse_repeats(flag: str, names: list[str], values) -> None:
    """Two values that name the same mask or rewind would plan the same job twice (and write one file)."""
    seen: dict[str, object] = {}
    for name, value in zip(names, values):
        if name in seen:
            same = f"{value} twice" if value == seen[name] else f"{seen[name]} and {value}, which name the same mask ({name})"
            raise UserInputError(f"{flag} lists {same}: give each value once")
        seen[name] = value
