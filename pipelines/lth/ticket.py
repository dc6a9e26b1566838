"""One lottery-ticket job: rewind (or re-initialize, or take the final weights), apply the mask,
retrain, evaluate."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import socket
import time

from pipelines.data.shards import open_source
from pipelines.executors.job import WorkerSlot
from pipelines.executors.store import ResultStore
from pipelines.lth.config import LthConfig
from pipelines.lth.layout import DENSE
from pipelines.lth.masks import load_masks
from pipelines.lth.modes import MODES
from pipelines.lth.plan import TicketJob
from pipelines.train import checkpoints
from pipelines.train.fits import FITS
from pipelines.train.masking import masked_nonzero_count
from pipelines.train.placement import place
from pipelines.train.resume import SaveEvery, TrainingState
from pipelines.train.trainer import TrainSetup
from pipelines.train.warm import ticket_model

CONTROL_SEED_OFFSET = 1_000_003  # a control's initialization is a fresh draw, not the dense run's


@functools.cache
def train_setup(config: LthConfig) -> TrainSetup:
    """This process's setup for the config: placed once, deterministic ops if asked."""
    placement = place(config.placement, deterministic=config.deterministic)
    return TrainSetup(source=open_source(config.data), workload=config.training_workload,
                      placement=placement, pipeline=config.pipeline, seed=config.seed, epochs=config.epochs,
                      save_every=SaveEvery.parse(config.save_every))


def job_config(config: LthConfig, job: TicketJob, slot: WorkerSlot) -> LthConfig:
    """The config of the job's replicate, with the thread share it runs with: an explicit `--threads`
    wins over the worker slot's."""
    threads = config.placement.threads or slot.threads
    config = dataclasses.replace(config, placement=dataclasses.replace(config.placement, threads=threads))
    return config.replicate(job.replicate)


def start_of(job: TicketJob, setup: TrainSetup, folder) -> tuple[object, int]:
    """What a (non-control) job's weights load from and the schedule step it starts at (its mode's)."""
    mode = MODES[job.mode]
    source = None if mode.from_final else job.point
    load = lambda model: checkpoints.load_checkpoint(model, folder.checkpoints, source)  # noqa: E731
    return load, setup.total_steps if mode.at_final_rate else job.rewind_step


def sweep_states(config: LthConfig) -> None:
    """Remove the resumable states of trainings whose result is written (OUT/resume): a job's ends
    with its result, which its worker writes after the job function returns, so the next job to
    start (or the search's end) removes them."""
    store, states = ResultStore(config.folder.jobs), config.folder.state("")
    for training in _entries(states):
        if store.finished(training.name) or (training.name == DENSE and config.folder.dense.is_file()):
            shutil.rmtree(training, ignore_errors=True)
    if states.is_dir() and not _entries(states):
        states.rmdir()


def _entries(folder) -> list:
    return list(folder.iterdir()) if folder.is_dir() else []


def resumed(progress) -> dict:
    """What a job's result says of its resumes and of the cost of being resumable (None: a fit that cannot say)."""
    if progress is None:
        return {"resumes": [], "saves": 0, "save_seconds": 0.0}
    return {"resumes": progress.resumes, "saves": progress.saves, "save_seconds": round(progress.save_seconds, 3)}


def early_stop(curve: list[tuple[int, float]] | None) -> dict:
    """The early-stopping iteration (Frankle & Carbin 2019): the step, counted from the start of this
    training, after which validation top-1 was highest (the first such, on ties), read at the end of
    every epoch; with the curve itself. None where the fit gives no curve."""
    if not curve:
        return {"validation_curve": None, "early_stop_step": None, "early_stop_top1": None}
    step, top1 = max(curve, key=lambda point: point[1])  # max keeps the first of equal points
    return {"validation_curve": [list(point) for point in curve], "early_stop_step": step, "early_stop_top1": top1}


def run_ticket(config: LthConfig, job: TicketJob, slot: WorkerSlot = WorkerSlot()) -> dict:
    """Rewind (or re-draw, or take the final weights), hold the mask, fit (`config.fit`) for the job's
    steps, evaluate.

    The process keeps the compiled model for the next ticket (pipelines.train.warm), unless the fit
    recompiles the model it is given (Elephas does): only the Keras fit here trains it as compiled."""
    job_started = time.time()
    state = TrainingState(config.folder.state(job.job_id))  # in the search's folder, whatever the replicate
    config = job_config(config, job, slot)
    setup = train_setup(config)
    folder = config.folder
    masks = load_masks(folder.mask(job.mask_id))
    mask_report = json.loads(folder.mask_report(job.mask_id).read_text())
    fit = FITS[config.fit.name]
    masking = fit.masking or config.masking
    keep = fit.keeps_model
    if job.control:
        model = ticket_model(setup, masks, masking, seed=config.seed + CONTROL_SEED_OFFSET, keep=keep)
    else:
        load, start_step = start_of(job, setup, folder)
        model = ticket_model(setup, masks, masking, keep=keep, start_step=start_step, load=load)
    started = time.time()
    progress = fit.run(model, setup, job.steps, masks, config.fit, state if fit.resumable else None)
    seconds = progress.seconds if progress else time.time() - started
    if job.keep_weights:
        checkpoints.save_checkpoint(model, folder.ticket(job.job_id), None, {"job": job.job_id})
    return {
        **job.describe(),
        "status": "done",
        **setup.evaluate(model),
        **early_stop(progress.curve if progress else None),
        **resumed(progress),
        "seed": config.seed,
        # over all prunable weights, as actual_sparsity is (the flag's value is a share of the rest under
        # --sparsity-over rest); a mask report from before keep-dense has only the flag's
        "requested_sparsity": mask_report.get("requested_sparsity", job.mask.sparsity),
        "threshold": job.mask.threshold,
        "actual_sparsity": mask_report["sparsity"],
        "epochs_trained": job.steps / setup.steps_per_epoch,
        "masked_nonzero": masked_nonzero_count(model, masks),
        "masking": masking,
        "recipe": setup.workload.recipe.as_dict(),
        "fit": config.fit.name,
        "threads": setup.placement.threads,  # None: all the cores
        "placement": setup.placement.describe(),  # the backend, and a thread share JAX did not apply
        "train_seconds": seconds,
        "started_at": job_started,  # the whole job, weights and evaluation included: what a planner schedules
        "finished_at": time.time(),
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
    }
