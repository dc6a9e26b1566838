"""The lottery-ticket search: dense training with the rewind grid, masks, then every ticket.

OUT/run.json        what fixes the dense run (a rerun with other values is refused)
OUT/checkpoints/    init, rewind-grid and final weights with their sidecars
OUT/dense.json      the dense network's accuracy
OUT/masks/          one .npz per mask and a .json with its per-layer sparsity
OUT/jobs/           one result per ticket job; a rerun skips the finished ones
OUT/tickets/        trained ticket weights that the next iterative round prunes
OUT/summary.json    dense accuracy and one row per ticket
Dense training restarts from its initialization if it was interrupted (it is the short part);
finished masks and tickets are never redone.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from typing import Callable

import numpy as np

from pipelines import atomic
from pipelines.errors import UserInputError
from pipelines.lth.config import LthConfig
from pipelines.lth.masks import (MaskSpec, check_collapse, compute_masks, kernel_values, load_masks, save_masks,
                                 sparsity_report)
from pipelines.lth.plan import Shard, chain_mask_id, iterative_round, job_id, oneshot_jobs
from pipelines.lth.ticket import checkpoints_dir, masks_dir, tickets_dir, train_setup
from pipelines.sweep import SweepSettings, run_jobs
from pipelines.sweep.mpi import Solo
from pipelines.sweep.store import ResultStore
from pipelines.train import checkpoints
from pipelines.train.model import build_model

Log = Callable[[str], None]
Progress = Callable[[int, int], None]


def search(config: LthConfig, sweep: SweepSettings = SweepSettings(), log: Log = print,
           progress: Progress | None = None, team=None, prepare_only: bool = False,
           shard: Shard | None = None) -> dict:
    """The whole search; under MPI (`team`), rank 0 leads the shared steps and every rank runs jobs.

    `prepare_only` stops after the dense run and the masks (a cluster's training job); `shard` runs
    one array task's share of the one-shot tickets from a prepared folder (a cluster's job array).
    """
    team = team or Solo()
    threads = config.placement.threads or team.threads  # an explicit --threads wins over the rank's share
    config = dataclasses.replace(config, placement=dataclasses.replace(config.placement, threads=threads))
    config.validate()
    sweep.validate()
    log = log if team.leader else (lambda line: None)
    warnings: list[str] = []
    if shard:
        _require_prepared(config, shard)
    dense = team.leader_does(lambda: prepare(config, log, warnings))
    if prepare_only:
        return {"out": str(config.root), "dense": dense, "prepared": True, "warnings": warnings}
    specs = mask_specs(config)
    store = ResultStore(config.root / "jobs")
    if config.schedule == "oneshot":
        plan = oneshot_jobs(specs, config.rewinds, config.epochs, config.control)
        jobs = shard.take(plan) if shard else plan
        log(f"tickets: {len(specs)} mask(s) x {len(config.rewinds)} rewind epoch(s)"
            f"{' + controls' if config.control else ''}, executor {sweep.executor}"
            + (f", shard {shard.index}/{shard.count}: {len(jobs)} of {len(plan)} jobs" if shard else ""))
        results = run_jobs(sweep, config, jobs, store, team, progress)
        if shard:  # the summary covers every shard finished so far; the last task's is complete
            results = [store.load(job.job_id) for job in plan if store.path(job.job_id).is_file()]
    else:
        results = []
        for round_ in range(1, len(specs) + 1):
            team.leader_does(lambda: _round_masks(config, specs, round_, warnings))
            log(f"iterative round {round_}/{len(specs)}: sparsity {specs[round_ - 1].sparsity}")
            jobs = iterative_round(specs, round_, config.rewinds, config.epochs, config.control)
            results += run_jobs(sweep, config, jobs, store, team, progress)
            if any(r["status"] != "done" for r in results):  # the next round would prune a missing ticket
                log(f"iterative pruning stops after round {round_}: a job failed")
                break
    return team.leader_does(lambda: _summary(config, dense, results, warnings))


def _require_prepared(config: LthConfig, shard: Shard) -> None:
    """A shard never trains the dense network: many array tasks would each train it at once."""
    if config.schedule != "oneshot":
        raise UserInputError("--shard splits one-shot tickets; iterative rounds depend on each other")
    if not (config.root / "dense.json").is_file():
        raise UserInputError(f"--shard {shard.index}/{shard.count} needs {config.root} prepared: run the same "
                             "`harness lth` with --prepare-only first (slurm/train-4gpu does)")


def mask_specs(config: LthConfig) -> list[MaskSpec]:
    return [MaskSpec(config.scope, sparsity=s) for s in config.sparsities] or \
           [MaskSpec(config.scope, threshold=t) for t in config.thresholds]


def prepare(config: LthConfig, log: Log, warnings: list[str]) -> dict:
    """Everything before the tickets: claim the folder, train dense, and (one-shot) build the masks."""
    _claim_folder(config)
    dense = train_dense(config, log)
    if config.schedule == "oneshot":
        _oneshot_masks(config, mask_specs(config), warnings)
    return dense


def _oneshot_masks(config: LthConfig, specs: list[MaskSpec], warnings: list[str]) -> None:
    final = functools.cache(lambda: _weights_of(config, checkpoints_dir(config), None))  # only if a mask is missing
    for spec in specs:
        _ensure_mask(config, spec, spec.mask_id, final, None, warnings)


def _round_masks(config: LthConfig, specs: list[MaskSpec], round_: int, warnings: list[str]) -> None:
    """Round 1 prunes the final dense weights; later rounds prune each chain's previous ticket."""
    final = functools.cache(lambda: _weights_of(config, checkpoints_dir(config), None))
    for chain in config.rewinds:
        if round_ == 1:
            weights, previous = final, None
        else:
            parent = specs[round_ - 2]
            ticket = tickets_dir(config) / job_id(parent, round_ - 1, chain)
            weights = functools.partial(_weights_of, config, ticket, None)
            previous = load_masks(masks_dir(config) / f"{chain_mask_id(parent, round_ - 1, chain)}.npz")
        _ensure_mask(config, specs[round_ - 1], chain_mask_id(specs[round_ - 1], round_, chain), weights,
                     previous, warnings)


def _claim_folder(config: LthConfig) -> None:
    run_file = config.root / "run.json"
    identity = config.identity()
    if run_file.is_file():
        if json.loads(run_file.read_text()) != identity:
            raise UserInputError(f"{config.root} holds a search with other settings (see run.json): "
                                 "choose another --out or remove it")
        return
    if config.root.exists() and any(config.root.iterdir()):
        raise UserInputError(f"{config.root} exists and is not a lottery-ticket search folder: choose another --out")
    atomic.write_json(run_file, identity)


def train_dense(config: LthConfig, log: Log) -> dict:
    """The dense run, saving init, the rewind grid and the final weights; skipped when already done."""
    dense_file = config.root / "dense.json"
    if dense_file.is_file() and checkpoints.has_checkpoint(checkpoints_dir(config), None):
        log("dense: already trained")
        return json.loads(dense_file.read_text())
    import keras

    setup = train_setup(config)
    keras.backend.clear_session()
    folder = checkpoints_dir(config)
    metadata = {"workload": config.workload, "classes": setup.num_classes, "seed": config.seed,
                "data": config.data}
    model = setup.model()
    checkpoints.save_checkpoint(model, folder, 0, metadata)

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            log(f"dense: epoch {epoch + 1}/{config.epochs}, loss {logs['loss']:.3f}, top-1 {logs['top1']:.3f}")

    started = time.time()
    setup.fit(model, config.epochs,
              callbacks=[checkpoints.rewind_callback(folder, set(config.rewinds) - {0}, metadata), EpochLog()])
    dense = {**setup.evaluate(model), "epochs": config.epochs, "train_seconds": time.time() - started,
             "placement": setup.placement.describe(), "global_batch": setup.global_batch}
    checkpoints.save_checkpoint(model, folder, None, metadata)
    atomic.write_json(dense_file, dense)
    return dense


def _weights_of(config: LthConfig, folder, epoch) -> dict[str, np.ndarray]:
    import keras

    setup = train_setup(config)
    keras.backend.clear_session()
    with setup.placement.strategy.scope():
        model = build_model(setup.workload, setup.num_classes, config.seed, setup.placement.spec.precision)
        checkpoints.load_checkpoint(model, folder, epoch)
    return kernel_values(model)


def _ensure_mask(config: LthConfig, spec: MaskSpec, mask_id: str, weights: Callable[[], dict], previous,
                 warnings: list[str]) -> None:
    """Compute and save the mask unless it exists; refuse (or warn about) one that empties a layer.

    A refused mask stays saved: it is the same mask whether collapse is allowed or not."""
    path = masks_dir(config) / f"{mask_id}.npz"
    report_path = path.with_suffix(".json")
    if path.is_file() and report_path.is_file():
        report = json.loads(report_path.read_text())
    else:
        masks = compute_masks(weights(), spec, previous)
        report = {"mask_id": mask_id, **sparsity_report(masks)}
        save_masks(path, masks)
        atomic.write_json(report_path, report)  # last: a report names a complete mask
    warning = check_collapse(spec, report, config.allow_collapse)
    if warning:
        warnings.append(warning)


def _summary(config: LthConfig, dense: dict, results: list[dict], warnings: list[str]) -> dict:
    columns = ("job_id", "mask_id", "requested_sparsity", "threshold", "actual_sparsity", "rewind", "control",
               "round", "top1", "top5", "epochs_trained", "masked_nonzero", "train_seconds")
    summary = {
        "out": str(config.root),
        "dense": {k: dense[k] for k in ("top1", "top5", "loss", "epochs", "train_seconds")},
        "placement": dense["placement"],
        "tickets": [{k: r.get(k) for k in columns} for r in results if r["status"] == "done"],
        "failed": [{"job_id": r["job_id"], "error": r["error"]} for r in results if r["status"] != "done"],
        "warnings": warnings,
    }
    atomic.write_json(config.root / "summary.json", summary)
    return summary
