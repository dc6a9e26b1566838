"""The lottery-ticket search: dense training with the rewind grid, masks, then every ticket.

The dense runs (one per replicate) and the masks are `prepare.py`'s; the tickets and stability pairs
are jobs (`plan.py`) that an executor runs with `run_job` as its job function; finished jobs are
never redone. What lands where in the search folder is `layout.py`'s; the means over replicates
are `aggregate.py`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Callable

from pipelines import atomic
from pipelines.errors import UserInputError
from pipelines.executors import ExecutorSettings, run_jobs
from pipelines.executors.job import WorkerSlot
from pipelines.executors.mpi import Solo
from pipelines.executors.store import ResultStore
from pipelines.folder_lock import holding
from pipelines.lth import aggregate
from pipelines.lth.config import LthConfig
from pipelines.lth.plan import STABILITY, Grid, Shard, iterative_round, oneshot_jobs
from pipelines.lth.prepare import prepare, round_masks
from pipelines.lth.stability import run_stability
from pipelines.lth.ticket import job_config, run_ticket, sweep_states

Log = Callable[[str], None]
Progress = Callable[[int, int], None]


def search(config: LthConfig, executor: ExecutorSettings = ExecutorSettings(), log: Log = print,
           progress: Progress | None = None, team=None, prepare_only: bool = False,
           shard: Shard | None = None, quiet: bool = True) -> dict:
    """The whole search; under MPI (`team`), rank 0 leads the shared steps and every rank runs jobs.

    `prepare_only` stops after the dense run and the masks (a cluster's training job); `shard` runs
    one array task's share of the one-shot tickets from a prepared folder (a cluster's job array).
    """
    team = team or Solo()
    config.validate()
    executor.validate()
    with contextlib.ExitStack() as held:
        # One writer per folder (pipelines.folder_lock): rank 0 holds it for every rank, and the tasks
        # of a job array share it, each writing only its own shard's results.
        team.leader_does(lambda: held.enter_context(holding(config.root, "search folder", shared=bool(shard))))
        return _search(config, executor, log if team.leader else (lambda line: None), progress, team,
                       prepare_only, shard, quiet)


def _search(config: LthConfig, executor: ExecutorSettings, log: Log, progress: Progress | None, team,
            prepare_only: bool, shard: Shard | None, quiet: bool) -> dict:
    warnings: list[str] = []
    if shard:
        _require_prepared(config, shard)
    denses = team.leader_does(lambda: _prepare_for(team, config, log, warnings, quiet))
    if prepare_only:
        return {"out": str(config.root), "dense": denses[0], "prepared": True, "warnings": warnings}
    # This process trains with its slot's share from here on (iterative masks load weights in it).
    threads = config.placement.threads or team.slot.threads
    config = dataclasses.replace(config, placement=dataclasses.replace(config.placement, threads=threads))
    job_fn = functools.partial(run_job, config)
    specs = config.mask_specs()
    store = ResultStore(config.folder.jobs, log)
    grid = Grid(tuple(config.points), config.epochs, denses[0]["steps_per_epoch"], config.control, config.retrain,
                config.replicates, config.stability)  # the dense run's steps: no rank lists the data again
    if config.schedule == "oneshot":
        plan = oneshot_jobs(specs, grid)
        jobs = shard.take(plan) if shard else plan
        log(f"tickets: {len(specs)} mask(s) x {len(grid.points)} rewind point(s) x {len(grid.modes)} mode(s)"
            f"{' + controls' if config.control else ''}{' + stability pairs' if config.stability else ''}"
            f"{f' x {config.replicates} replicates' if config.replicates > 1 else ''}, executor {executor.executor}, "
            f"fit {config.fit.name}"
            + (f", shard {shard.index}/{shard.count}: {len(jobs)} of {len(plan)} jobs" if shard else ""))
        results = run_jobs(executor, job_fn, jobs, store, team, progress)
        if shard:  # the summary covers every shard finished so far; the last task's is complete
            results = [result for job in plan if (result := store.read(job.job_id))]
    else:
        results = []
        for round_ in range(1, len(specs) + 1):
            team.leader_does(lambda: [round_masks(config.replicate(r), specs, round_, warnings, log, r)
                                      for r in range(config.replicates)])
            log(f"iterative round {round_}/{len(specs)}: mask {specs[round_ - 1].mask_id}")
            jobs = iterative_round(specs, round_, grid)
            results += run_jobs(executor, job_fn, jobs, store, team, progress)
            if any(r["status"] != "done" for r in results):  # the next round would prune a missing ticket
                log(f"iterative pruning stops after round {round_}: a job failed")
                break
    team.leader_does(lambda: sweep_states(config))
    return team.leader_does(lambda: _summary(config, denses, results, warnings))


def run_job(config: LthConfig, job, slot: WorkerSlot = WorkerSlot()) -> dict:
    """The job function executors run: a ticket, or a stability pair."""
    sweep_states(config)
    if job.kind == STABILITY:
        return run_stability(job_config(config, job, slot), job, config.folder.state(job.job_id))
    return run_ticket(config, job, slot)


def _prepare_for(team, config: LthConfig, log: Log, warnings: list[str], quiet: bool) -> list[dict]:
    """The dense run and masks, trained as the serial executor trains them whatever the team:
    in this process, or under MPI in a process of its own with the node's cores and GPUs."""
    if team.node_environment is None:
        return prepare(config, log, warnings)
    from pipelines.lth.apart import prepare_apart

    return prepare_apart(config, log, warnings, team.node_environment, quiet)


def _require_prepared(config: LthConfig, shard: Shard) -> None:
    """A shard never trains the dense network: many array tasks would each train it at once."""
    if config.schedule != "oneshot":
        raise UserInputError("--shard splits one-shot tickets; iterative rounds depend on each other")
    if not all(config.replicate(r).folder.dense.is_file() for r in range(config.replicates)):
        raise UserInputError(f"--shard {shard.index}/{shard.count} needs {config.root} prepared: run the same "
                             "`harness lth` with --prepare-only first (slurm/train-4gpu does)")


TICKET_COLUMNS = ("job_id", "mask_id", "requested_sparsity", "threshold", "actual_sparsity", "rewind", "rewind_step",
                  "mode", "replicate", "seed", "control", "round", "top1", "top5", "loss", "epochs_trained",
                  "early_stop_step", "early_stop_top1", "masked_nonzero", "masking", "fit", "threads", "train_seconds",
                  "resumes")
STABILITY_COLUMNS = ("job_id", "network", "actual_sparsity", "rewind", "rewind_step", "replicate", "seed", "alphas",
                     "top1", "barrier", "train_seconds")


def _summary(config: LthConfig, denses: list[dict], results: list[dict], warnings: list[str]) -> dict:
    done = [r for r in results if r["status"] == "done"]
    tickets = [{k: r.get(k) for k in TICKET_COLUMNS} for r in done if r.get("kind") != STABILITY]
    stability = [{k: r.get(k) for k in STABILITY_COLUMNS} for r in done if r.get("kind") == STABILITY]
    dense = aggregate.dense_mean(denses)
    means = aggregate.ticket_means(tickets, dense)
    summary = {
        "out": str(config.root),
        "dense": {k: denses[0].get(k) for k in ("top1", "top5", "loss", "epochs", "train_seconds", "resumes")},
        "placement": denses[0]["placement"],
        "model": config.training_workload.model,
        "recipe": config.training_workload.recipe.as_dict(),
        "replicates": config.replicates,
        "dense_replicates": [{k: d[k] for k in ("replicate", "seed", "top1", "top5", "loss")} for d in denses],
        "dense_mean": dense,
        "tickets": tickets,
        "aggregate": means,
        "matching": aggregate.sparsest_matching(means),
        "stability": stability,
        "stability_aggregate": aggregate.barrier_means(stability),
        "failed": [{"job_id": r["job_id"], "error": r["error"]} for r in results if r["status"] != "done"],
        "warnings": warnings,
    }
    atomic.write_json(config.folder.summary, summary)
    return summary
