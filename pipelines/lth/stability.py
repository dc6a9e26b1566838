"""Stability to SGD noise (Frankle, Dziugaite, Roy & Carbin 2020, "Linear Mode Connectivity and the
Lottery Ticket Hypothesis"): why late rewinding finds tickets where rewinding to the start fails.

A stability job takes one network (the dense one, or a mask) at one rewind point, trains two
copies from that point's weights and schedule position for the steps that remain, each with its
own data order (neither is the search's), and evaluates the straight line between them at
`ALPHAS`, with BatchNormalization's statistics re-estimated at every point
(pipelines.train.batchnorm). The **error barrier** is the highest error along the line minus the
mean of the two ends' errors: near 0, the copies lie in one linearly connected valley (the network
is stable at that point); large, SGD's noise sent them to different ones. Two identical copies
have a barrier of exactly 0.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from pathlib import Path

from pipelines.lth.config import LthConfig
from pipelines.lth.masks import load_masks
from pipelines.lth.plan import TicketJob
from pipelines.lth.ticket import start_of, train_setup
from pipelines.train import batchnorm
from pipelines.train.resume import TrainingState
from pipelines.train.warm import ticket_model

ALPHAS = tuple(i / 10 for i in range(11))
COPY_SEED_OFFSETS = (2_000_003, 3_000_017)  # the two copies' data orders: neither the search's own


def run_stability(config: LthConfig, job: TicketJob, states: Path) -> dict:
    """Train the two copies, then walk the line between them (`config` is the job's replicate's);
    each copy resumes from, and saves, its states in `states`/copyI."""
    started = time.time()
    setup = train_setup(config)
    folder = config.folder
    masks = load_masks(folder.mask(job.mask_id)) if job.mask else {}
    sparsity = json.loads(folder.mask_report(job.mask_id).read_text())["sparsity"] if job.mask else 0.0
    ends, resumes = [], []
    for index, offset in enumerate(COPY_SEED_OFFSETS):
        # Only the order's seed: the global one stays (resetting it would re-instantiate the traced steps).
        copy = dataclasses.replace(setup, order_seed=config.seed + offset)
        load, start_step = start_of(job, copy, folder)
        model = ticket_model(copy, masks, config.masking, start_step=start_step, load=load)
        progress = copy.fit_steps(model, job.steps, state=TrainingState(Path(states) / f"copy{index}", f"{job.job_id}/copy{index}"))
        ends.append(model.get_weights())
        resumes += [{**resume, "copy": index} for resume in progress.resumes]
    curve = interpolate(model, setup, *ends)
    return {**job.describe(), "status": "done", "network": job.mask_id, "actual_sparsity": sparsity,
            "seed": config.seed, "alphas": list(ALPHAS), "top1": curve, "barrier": error_barrier(curve),
            "train_seconds": time.time() - started, "resumes": resumes}


def interpolate(model, setup, first: list, second: list) -> list[float]:
    """Top-1 of (1 - alpha) x first + alpha x second at each alpha, statistics re-estimated from the
    same training batches at every point (read once)."""
    batches = list(itertools.islice(iter(setup.train_dataset()[0]), batchnorm.BATCHES))
    top1 = []
    for alpha in ALPHAS:
        model.set_weights([(1 - alpha) * a + alpha * b for a, b in zip(first, second)])
        batchnorm.reestimate(model, batches)
        top1.append(setup.evaluate(model)["top1"])
    return top1


def error_barrier(top1: list[float]) -> float:
    errors = [1 - t for t in top1]
    return max(errors) - (errors[0] + errors[-1]) / 2
