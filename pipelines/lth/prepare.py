"""Everything before the tickets: claim the search folder, train dense with the rewind grid, build the masks.

Dense training continues from its newest resumable state if it was interrupted
(pipelines.train.resume), and restarts from its initialization if its result or any checkpoint of
the grid no longer reads back; a mask that does not load is built again; everything else finished is
kept.
"""

from __future__ import annotations

import functools
import json
import shutil
from typing import Callable

import numpy as np

from pipelines import atomic
from pipelines.data.fingerprint import fingerprint, what_changed
from pipelines.errors import UserInputError
from pipelines.folder_lock import LOCK_NAME
from pipelines.outputs import refuse_folders_in_place
from pipelines.lth.config import LthConfig
from pipelines.lth.layout import DENSE
from pipelines.lth.masks import (MaskSpec, check_collapse, check_reachable, compute_masks, load_masks,
                                 saved_mask_report, save_masks, sparsity_report)
from pipelines.lth.plan import chain_mask_id, job_id
from pipelines.lth.ticket import resumed, train_setup
from pipelines.train import checkpoints
from pipelines.train.resume import TrainingState
from pipelines.train.model import build_model, kernel_kinds, kernel_values

Log = Callable[[str], None]
DATA_FINGERPRINT = "data_fingerprint"  # beside the identity in run.json


def prepare(config: LthConfig, log: Log, warnings: list[str]) -> list[dict]:
    """Everything before the tickets, for every replicate: claim its folder, train dense, and
    (one-shot) build the masks. The dense results, by replicate."""
    denses = []
    data = fingerprint(config.data)  # the replicates share the data: one look at it
    for index in range(config.replicates):
        replicate = config.replicate(index)
        say = log if config.replicates == 1 else (lambda line, i=index: log(f"replicate {i}: {line}"))
        _claim_folder(replicate, data, say)
        denses.append({**train_dense(replicate, say), "replicate": index, "seed": replicate.seed})
        if config.schedule == "oneshot":
            oneshot_masks(replicate, config.mask_specs(), warnings, say)
    return denses


def oneshot_masks(config: LthConfig, specs: list[MaskSpec], warnings: list[str], log: Log) -> None:
    final = functools.cache(lambda: _weights_of(config, config.folder.checkpoints, None))  # only if a mask is missing
    for spec in specs:
        _ensure_mask(config, spec, spec.mask_id, final, None, warnings, log)


def round_masks(config: LthConfig, specs: list[MaskSpec], round_: int, warnings: list[str], log: Log,
                replicate: int = 0) -> None:
    """Round 1 prunes the final dense weights; later rounds prune each chain's previous ticket.
    `config` is the replicate's (LthConfig.replicate)."""
    final = functools.cache(lambda: _weights_of(config, config.folder.checkpoints, None))
    for chain in (point.label for point in config.points):
        if round_ == 1:
            weights, previous = final, None
        else:
            parent = specs[round_ - 2]
            ticket = config.folder.ticket(job_id(parent, round_ - 1, chain, replicate=replicate))
            weights = functools.partial(_weights_of, config, ticket, None)
            previous = load_masks(config.folder.mask(chain_mask_id(parent, round_ - 1, chain)))
        _ensure_mask(config, specs[round_ - 1], chain_mask_id(specs[round_ - 1], round_, chain), weights,
                     previous, warnings, log)


def _claim_folder(config: LthConfig, data: dict, log: Log) -> None:
    """Make the folder this search's, or check that it is: the same settings (run.json) over the same
    data (its fingerprint, pipelines.data.fingerprint). A folder made before fingerprints were
    recorded takes today's."""
    run_file = config.folder.settings
    identity = config.identity()
    if run_file.is_file():
        try:
            saved = json.loads(run_file.read_bytes())
            then = saved.pop(DATA_FINGERPRINT, None)
        except (ValueError, AttributeError) as error:
            raise UserInputError(f"{run_file} is damaged ({error}): this folder's search cannot be resumed; "
                                 "remove the folder or choose another --out") from None
        if saved != identity:
            raise UserInputError(f"{config.root} holds a search with other settings (see run.json): "
                                 "choose another --out or remove it")
        if then is None:
            log(f"{run_file} records no data fingerprint (an older search): recording today's data's")
        elif changed := what_changed(then, data):
            raise UserInputError(f"the data in {config.data} changed since the search in {config.root} began: "
                                 f"{changed}; restore it, or search it in another --out")
        else:
            return
    elif any(p.name != LOCK_NAME for p in _entries(config.root)):
        raise UserInputError(f"{config.root} exists and is not a lottery-ticket search folder: choose another --out")
    atomic.write_json(run_file, {**identity, DATA_FINGERPRINT: data})


def _entries(folder) -> list:
    return list(folder.iterdir()) if folder.is_dir() else []


def train_dense(config: LthConfig, log: Log) -> dict:
    """The dense run, saving init, the rewind grid and the final weights; skipped when already done."""
    dense_file = config.folder.dense
    if dense_file.is_file():
        problem = _dense_problem(config, dense_file)
        if problem is None:
            log("dense: already trained")
            return json.loads(dense_file.read_bytes())
        log(f"dense: {problem}: training it again")
        shutil.rmtree(config.folder.state(DENSE), ignore_errors=True)  # from its start: a state would skip the damage
    folder = config.folder.checkpoints
    outputs = [dense_file, *(p for point in [0, *config.points, None] for p in checkpoints.paths(folder, point))]
    refuse_folders_in_place(outputs, "the dense run")  # checked again: the folder may have changed since the start
    setup = train_setup(config)  # first: it selects the backend Keras imports with
    import keras

    keras.backend.clear_session()
    metadata = {"workload": config.workload, "classes": setup.num_classes, "seed": config.seed,
                "data": config.data}
    model = setup.model()
    check_reachable(config.mask_specs(), kernel_values(model), kernel_kinds(model))
    checkpoints.save_checkpoint(model, folder, 0, metadata)  # the same initialization on every resume

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            log(f"dense: epoch {epoch + 1}/{config.epochs}, loss {logs['loss']:.3f}, top-1 {logs['top1']:.3f}")

    grid = {point.step(setup.steps_per_epoch): point for point in config.points if point.count}
    state = TrainingState(config.folder.state(DENSE))
    progress = setup.fit(model, config.epochs, callbacks=[checkpoints.rewind_callback(folder, grid, metadata), EpochLog()],
                         state=state, log=log)
    dense = {**setup.evaluate(model), "epochs": config.epochs, "train_seconds": progress.seconds,
             "placement": setup.placement.describe(), "global_batch": setup.global_batch,
             "steps_per_epoch": setup.steps_per_epoch, **resumed(progress)}
    checkpoints.save_checkpoint(model, folder, None, metadata)
    atomic.write_json(dense_file, dense)
    state.clear()
    return dense


def _dense_problem(config: LthConfig, dense_file) -> str | None:
    """Why a finished dense run cannot be used as it is, or None: its result and every checkpoint of
    the grid must read back (a damaged one would fail each ticket that rewinds to it)."""
    try:
        dense = json.loads(dense_file.read_bytes())
        dense["top1"], dense["steps_per_epoch"]  # what the summary and the job plan read
    except (ValueError, KeyError, TypeError) as error:
        return f"{dense_file} is damaged ({type(error).__name__}: {error})"
    for point in [0, *config.points, None]:
        problem = checkpoints.checkpoint_problem(config.folder.checkpoints, point)
        if problem:
            return problem
    return None


def _weights_of(config: LthConfig, folder, epoch) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The prunable kernels of the checkpoint in `folder` at `epoch`, and the kind of each."""
    setup = train_setup(config)  # first: it selects the backend Keras imports with
    import keras

    keras.backend.clear_session()
    with setup.placement.strategy.scope():
        model = build_model(setup.workload, setup.num_classes, config.seed, setup.placement.spec.precision)
        checkpoints.load_checkpoint(model, folder, epoch)
    return kernel_values(model), kernel_kinds(model)


def _ensure_mask(config: LthConfig, spec: MaskSpec, mask_id: str, weights: Callable[[], tuple], previous,
                 warnings: list[str], log: Log) -> None:
    """Compute and save the mask unless a readable one exists; refuse (or warn about) one that empties a layer.

    A refused mask stays saved: it is the same mask whether collapse is allowed or not."""
    path, report_path = config.folder.mask(mask_id), config.folder.mask_report(mask_id)
    report = saved_mask_report(path, report_path, log)
    if report is None:
        values, kinds = weights()
        masks = compute_masks(values, kinds, spec, previous)
        report = {"mask_id": mask_id, **sparsity_report(masks, kinds, spec)}
        save_masks(path, masks)
        atomic.write_json(report_path, report)  # last: a report names a complete mask
    warning = check_collapse(spec, report, config.allow_collapse)
    if warning:
        warnings.append(warning)
