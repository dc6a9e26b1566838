"""Everything a lottery-ticket job needs, as plain values, so that any executor can ship it anywhere."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pipelines.data.online import PIPELINES
from pipelines.errors import UserInputError
from pipelines.lth.layout import SearchFolder
from pipelines.settings import setting
from pipelines.lth.masks import OVER_MODES, SCOPES, MaskSpec
from pipelines.lth.modes import MODES
from pipelines.lth.rates import ALL, parse_rates, round_targets
from pipelines.lth.rewind import RewindPoint, check_points, parse_points
from pipelines.train.fits import FITS, FitSettings
from pipelines.train.masking import MASKINGS
from pipelines.train.models import MODELS
from pipelines.train.placement import DEVICES, PlacementSpec
from pipelines.train.recipes import Recipe
from pipelines.train.resume import SaveEvery
from pipelines.train.workloads import WORKLOADS, Workload, get_workload

SCHEDULES = ("oneshot", "iterative")


@dataclass(frozen=True, kw_only=True)
class LthConfig:
    data: str = setting("data/default", "ImageNet-layout folder (train/ and val/), or preprocessed shards.")
    out: str = setting(help="Folder for checkpoints, masks, results.")
    workload: str = setting("small", "A network, its input size and its recipe (harness variants lists them).",
                            choices=WORKLOADS)
    model: str | None = setting(None, "The network, instead of the workload's: one of " + ", ".join(MODELS) +
                                " (harness variants says what each is), or your own package.module:function, "
                                "(input_shape, classes) -> keras.Model of logits.")
    epochs: int = setting(4, "Dense training epochs. Default: the workload's.")
    rewinds: tuple[str, ...] = setting((0, 1, 2), "Rewind points (late resetting): epochs (2 or 2ep) or steps "
                                                  "(500it); 0 is the initialization.")
    sparsities: tuple[float, ...] = setting((0.5, 0.8, 0.9), "Target sparsities (none when --threshold or --prune-rate "
                                                                   "is given).")
    thresholds: tuple[float, ...] = setting((), "Absolute magnitudes to prune at or below, instead of sparsities "
                                                "(global scope).")
    prune_rates: tuple[str, ...] = setting((), "Instead of --sparsity: the share of the remaining weights each round "
                                                "prunes, one rate (0.2) or per layer kind (conv=0.1,dense=0.2,"
                                                "classifier=0.1; conv and dense cover their kinds not named).")
    rounds: int | None = setting(None, "With --prune-rate: how many rounds (masks), each pruning the rate again.")
    scope: str = setting("global", "How a sparsity is spread over the layers.", choices=SCOPES)
    keep_dense: tuple[str, ...] = setting((), "Layer kinds left unpruned: any of stem, conv, depthwise, pointwise, "
                                                "squeeze_excite, dense, classifier.")
    sparsity_over: str = setting("all", "With --keep-dense: the target sparsity is a share of all prunable "
                                        "weights (the rest pruned harder) or of the rest.", choices=lambda: OVER_MODES)
    schedule: str = setting("oneshot", "One-shot masks, or the sparsities as iterative rounds.",
                            choices=lambda: SCHEDULES)
    control: bool = False  # also train each mask from a fresh random initialization
    retrain: tuple[str, ...] = setting(("weight",), "Retraining modes (Renda et al. 2020): weight (rewind weights and "
                                                    "schedule), lr (final weights, schedule replayed), finetune "
                                                    "(final weights, final rate).", choices=MODES)
    replicates: int = setting(1, "Run the search under this many seeds (--seed, --seed+1, ...), sharing the data.")
    stability: bool = setting(False, "Also train two copies from each rewind point with different data orders and "
                                     "measure the error barrier between them (dense and every mask).")
    allow_collapse: bool = setting(False, "Train masks that prune whole layers (warns instead of refusing).")
    masking: str = setting("gradient", "How the mask is held in the training step.", choices=MASKINGS)
    pipeline: str = setting("parallel", "The online pipeline that feeds every training run (harness variants lists "
                                        "them).", choices=PIPELINES)
    seed: int = setting(0, "Initialization, data order and control draws.")
    recipe: Recipe | None = None  # how every run trains (None: the workload's recipe)
    deterministic: bool = True
    placement: PlacementSpec = field(default_factory=PlacementSpec)
    fit: FitSettings = field(default_factory=FitSettings)  # how each ticket is fit; not part of the identity
    save_every: str = setting("1", "Save each training's resumable state every N epochs (2 or 2ep) or N steps (500it), "
                                   "and on a stop: a stop or a crash costs at most this much training.")

    @property
    def root(self) -> Path:
        return Path(self.out)

    @property
    def folder(self) -> SearchFolder:
        return SearchFolder(self.root)

    @property
    def points(self) -> list[RewindPoint]:
        return parse_points(self.rewinds)

    def replicate(self, index: int) -> LthConfig:
        """Replicate `index` of the search: seed + index, in its own folder (replicate 0 is the search
        itself); only the data is shared."""
        if index == 0:
            return self
        return replace(self, seed=self.seed + index, out=str(self.folder.replicate(index)), replicates=1)

    def steps_per_epoch(self, train_images: int) -> int:
        """Steps in one epoch of `train_images` (the global batch is shared by the replicas)."""
        global_batch = self.training_workload.batch_size * max(DEVICES[self.placement.device].gpus, 1)
        return train_images // global_batch

    @property
    def training_workload(self) -> Workload:
        """The workload, with this search's recipe."""
        workload = get_workload(self.workload).with_model(self.model)
        return replace(workload, recipe=self.recipe) if self.recipe else workload

    def check_schedule(self, train_images: int) -> None:
        """The recipe's warm-up and milestones, and the rewind points, against the dense run's length,
        which in steps depends on the training split's size (and the replicas sharing a global batch)."""
        steps_per_epoch = self.steps_per_epoch(train_images)
        self.training_workload.recipe.check_length(self.epochs, steps_per_epoch)
        check_points(self.points, self.epochs, steps_per_epoch)

    def validate(self) -> None:
        SaveEvery.parse(self.save_every)
        if self.epochs < 1:
            raise UserInputError("--epochs must be at least 1")
        points = self.points
        if not points or any(p.unit == "ep" and p.count >= self.epochs for p in points):
            raise UserInputError(f"--rewind epochs must lie in [0, {self.epochs}): got {list(self.rewinds)}")
        _refuse_repeats("--rewind", [str(p.label) for p in points], self.rewinds)
        for mode in self.retrain:
            MODES.entry(mode)
        _refuse_repeats("--retrain", list(self.retrain), self.retrain)
        if self.replicates < 1:
            raise UserInputError(f"--replicates must be at least 1, got {self.replicates}")
        if [bool(self.sparsities), bool(self.thresholds), bool(self.prune_rates)].count(True) != 1:
            raise UserInputError("give target sparsities (--sparsity), absolute magnitudes (--threshold) or pruning "
                                 "rates (--prune-rate), one of them")
        if bool(self.prune_rates) != (self.rounds is not None):
            raise UserInputError("--prune-rate and --rounds go together: the rate says how much each round prunes, "
                                 "--rounds how many rounds")
        if self.rounds is not None and self.rounds < 1:
            raise UserInputError(f"--rounds must be at least 1, got {self.rounds}")
        SCOPES.entry(self.scope)
        specs = self.mask_specs()
        for spec in specs:
            spec.validate()
        if not self.prune_rates:  # rates make distinct rounds
            _refuse_repeats("--sparsity" if self.sparsities else "--threshold", [s.mask_id for s in specs],
                            self.sparsities or self.thresholds)
        if self.schedule not in SCHEDULES:
            raise UserInputError(f"unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.schedule == "iterative" and (self.thresholds or list(self.sparsities) != sorted(set(self.sparsities))):
            raise UserInputError("--schedule iterative takes increasing target sparsities, one per round")
        if self.schedule == "iterative" and (self.retrain != ("weight",) or self.stability):
            raise UserInputError("--retrain lr/finetune and --stability run on one-shot masks: give --schedule oneshot")
        MASKINGS.entry(self.masking)
        PIPELINES.entry(self.pipeline)
        self.training_workload.recipe.validate()  # refuses an unknown workload or --model name first
        self.fit.validate(self.placement.backend)
        if FITS[self.fit.name].whole_epochs and any(p.unit == "it" for p in points):
            raise UserInputError(f"--executor {self.fit.name} trains whole epochs: give --rewind points in epochs")
        self.placement.validate()

    def mask_specs(self) -> list[MaskSpec]:
        """One mask per target sparsity, per absolute threshold, or per round of the pruning rates."""
        kept = {"keep_dense": self.keep_dense, "sparsity_over": self.sparsity_over}
        if self.prune_rates:
            rates = parse_rates(self.prune_rates)
            if rates[0][0] == ALL:
                return [MaskSpec(self.scope, sparsity=targets[0][1], **kept) for targets in round_targets(rates, self.rounds)]
            return [MaskSpec(self.scope, per_kind=targets, **kept) for targets in round_targets(rates, self.rounds)]
        return [MaskSpec(self.scope, sparsity=s, **kept) for s in self.sparsities] or \
               [MaskSpec(self.scope, threshold=t, **kept) for t in self.thresholds]

    def identity(self) -> dict:
        """What fixes the dense run and the masks: a rerun into the same folder must agree on it."""
        keys = ("data", "workload", "epochs", "seed", "pipeline")
        # Not the device: a cluster trains dense on four GPUs, then its tickets on one each (slurm/), and
        # not the threads, a share. dense.json records the placement the dense run had.
        placement = {k: v for k, v in asdict(self.placement).items() if k not in ("threads", "device")}
        return {**{k: getattr(self, k) for k in keys}, "rewind_grid": [p.label for p in sorted(self.points)],
                "placement": placement,
                "recipe": self.training_workload.recipe.as_dict(),
                **({"model": self.model} if self.model else {})}  # searches before --model have none


def _refuse_repeats(flag: str, names: list[str], values) -> None:
    """Two values that name the same mask or rewind would plan the same job twice (and write one file)."""
    seen: dict[str, object] = {}
    for name, value in zip(names, values):
        if name in seen:
            same = f"{value} twice" if value == seen[name] else f"{seen[name]} and {value}, which name the same mask ({name})"
            raise UserInputError(f"{flag} lists {same}: give each value once")
        seen[name] = value
