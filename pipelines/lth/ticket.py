"""One lottery-ticket job: rewind (or re-initialize), apply the mask, retrain, evaluate."""

from __future__ import annotations

import functools
import json
import os
import socket
import time
from pathlib import Path

from pipelines.data.shards import open_source
from pipelines.lth.config import LthConfig
from pipelines.lth.masking import masked_nonzero_count
from pipelines.lth.masks import load_masks
from pipelines.lth.plan import TicketJob
from pipelines.train import checkpoints
from pipelines.train.placement import place
from pipelines.train.trainer import TrainSetup
from pipelines.train.workloads import get_workload

CONTROL_SEED_OFFSET = 1_000_003  # a control's initialization is a fresh draw, not the dense run's


@functools.cache
def train_setup(config: LthConfig) -> TrainSetup:
    """This process's setup for the config: placed once, deterministic ops if asked."""
    placement = place(config.placement)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return TrainSetup(source=open_source(config.data), workload=get_workload(config.workload),
                      placement=placement, pipeline=config.pipeline, seed=config.seed)


def masks_dir(config: LthConfig) -> Path:
    return config.root / "masks"


def tickets_dir(config: LthConfig) -> Path:
    return config.root / "tickets"


def checkpoints_dir(config: LthConfig) -> Path:
    return config.root / "checkpoints"


def keras_fit(model, setup: TrainSetup, job: TicketJob, masks) -> None:
    """Retrain in this process, on the setup's placement and pipeline."""
    setup.fit(model, job.epochs)


def run_ticket(config: LthConfig, job: TicketJob, fit=keras_fit, masking: str | None = None) -> dict:
    """Rewind (or re-draw) the weights, hold the mask, `fit`, evaluate. Executors that train elsewhere
    (Elephas) pass their own `fit` and the masking method that can travel with the model."""
    import keras

    job_started = time.time()
    setup = train_setup(config)
    keras.backend.clear_session()
    masks = load_masks(masks_dir(config) / f"{job.mask_id}.npz")
    mask_report = json.loads((masks_dir(config) / f"{job.mask_id}.json").read_text())
    masking = masking or config.masking
    if job.control:
        model = setup.model(seed=config.seed + CONTROL_SEED_OFFSET, masks=masks, masking=masking)
    else:
        model = setup.model(masks=masks, masking=masking,
                            load=lambda m: checkpoints.load_checkpoint(m, checkpoints_dir(config), job.rewind))
    started = time.time()
    fit(model, setup, job, masks)
    seconds = time.time() - started
    if job.keep_weights:
        checkpoints.save_checkpoint(model, tickets_dir(config) / job.job_id, None, {"job": job.job_id})
    return {
        **job.describe(),
        "status": "done",
        **setup.evaluate(model),
        "requested_sparsity": job.mask.sparsity,
        "threshold": job.mask.threshold,
        "actual_sparsity": mask_report["sparsity"],
        "epochs_trained": job.epochs,
        "masked_nonzero": masked_nonzero_count(model, masks),
        "masking": masking,
        "threads": setup.placement.spec.threads,  # None: TensorFlow's default, all the cores
        "train_seconds": seconds,
        "started_at": job_started,  # the whole job, weights and evaluation included: what a planner schedules
        "finished_at": time.time(),
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
    }
