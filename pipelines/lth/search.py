"""The lottery-ticket search: dense training with the rewind grid, masks, then every ticket.

The dense run and the masks are `prepare.py`'s; the tickets are jobs (`plan.py`) that an executor
runs with `run_ticket` as its job function; finished tickets are never redone. What lands where in
the search folder is `layout.py`'s.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from pipelines import atomic
from pipelines.errors import UserInputError
from pipelines.executors import ExecutorSettings, run_jobs
from pipelines.executors.mpi import Solo
from pipelines.executors.store import ResultStore
from pipelines.lth.config import LthConfig
from pipelines.lth.plan import Shard, iterative_round, oneshot_jobs
from pipelines.lth.prepare import prepare, round_masks
from pipelines.lth.ticket import run_ticket

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
    log = log if team.leader else (lambda line: None)
    warnings: list[str] = []
    if shard:
        _require_prepared(config, shard)
    dense = team.leader_does(lambda: _prepare_for(team, config, log, warnings, quiet))
    if prepare_only:
        return {"out": str(config.root), "dense": dense, "prepared": True, "warnings": warnings}
    # This process trains with its slot's share from here on (iterative masks load weights in it).
    threads = config.placement.threads or team.slot.threads
    config = dataclasses.replace(config, placement=dataclasses.replace(config.placement, threads=threads))
    job_fn = functools.partial(run_ticket, config)
    specs = config.mask_specs()
    store = ResultStore(config.folder.jobs, log)
    if config.schedule == "oneshot":
        plan = oneshot_jobs(specs, config.rewinds, config.epochs, config.control)
        jobs = shard.take(plan) if shard else plan
        log(f"tickets: {len(specs)} mask(s) x {len(config.rewinds)} rewind epoch(s)"
            f"{' + controls' if config.control else ''}, executor {executor.executor}, fit {config.fit.name}"
            + (f", shard {shard.index}/{shard.count}: {len(jobs)} of {len(plan)} jobs" if shard else ""))
        results = run_jobs(executor, job_fn, jobs, store, team, progress)
        if shard:  # the summary covers every shard finished so far; the last task's is complete
            results = [result for job in plan if (result := store.read(job.job_id))]
    else:
        results = []
        for round_ in range(1, len(specs) + 1):
            team.leader_does(lambda: round_masks(config, specs, round_, warnings, log))
            log(f"iterative round {round_}/{len(specs)}: sparsity {specs[round_ - 1].sparsity}")
            jobs = iterative_round(specs, round_, config.rewinds, config.epochs, config.control)
            results += run_jobs(executor, job_fn, jobs, store, team, progress)
            if any(r["status"] != "done" for r in results):  # the next round would prune a missing ticket
                log(f"iterative pruning stops after round {round_}: a job failed")
                break
    return team.leader_does(lambda: _summary(config, dense, results, warnings))


def _prepare_for(team, config: LthConfig, log: Log, warnings: list[str], quiet: bool) -> dict:
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
    if not config.folder.dense.is_file():
        raise UserInputError(f"--shard {shard.index}/{shard.count} needs {config.root} prepared: run the same "
                             "`harness lth` with --prepare-only first (slurm/train-4gpu does)")


def _summary(config: LthConfig, dense: dict, results: list[dict], warnings: list[str]) -> dict:
    columns = ("job_id", "mask_id", "requested_sparsity", "threshold", "actual_sparsity", "rewind", "control",
               "round", "top1", "top5", "loss", "epochs_trained", "masked_nonzero", "masking", "fit", "threads",
               "train_seconds")
    summary = {
        "out": str(config.root),
        "dense": {k: dense[k] for k in ("top1", "top5", "loss", "epochs", "train_seconds")},
        "placement": dense["placement"],
        "recipe": config.training_workload.recipe.as_dict(),
        "tickets": [{k: r.get(k) for k in columns} for r in results if r["status"] == "done"],
        "failed": [{"job_id": r["job_id"], "error": r["error"]} for r in results if r["status"] != "done"],
        "warnings": warnings,
    }
    atomic.write_json(config.folder.summary, summary)
    return summary
