"""The lottery-ticket search: dense training with the rewind grid, masks, then every ticket.

OUT/run.json        what fixes the dense run (a rerun with other values is refused)
OUT/checkpoints/    init, rewind-grid and final weights with their sidecars
OUT/dense.json      the dense network's accuracy
OUT/masks/          one .npz per mask and a .json with its per-layer sparsity
OUT/jobs/           one result per ticket job; a rerun skips the finished ones
OUT/tickets/        trained ticket weights that the next iterative round prunes
OUT/summary.json    dense accuracy and one row per ticket
The dense run and the masks are `prepare.py`'s; finished tickets are never redone.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from pipelines import atomic
from pipelines.errors import UserInputError
from pipelines.lth.config import LthConfig
from pipelines.lth.plan import Shard, iterative_round, oneshot_jobs
from pipelines.lth.prepare import prepare, round_masks
from pipelines.sweep import SweepSettings, run_jobs
from pipelines.sweep.mpi import Solo
from pipelines.sweep.store import ResultStore

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
    config.validate()
    sweep.validate()
    log = log if team.leader else (lambda line: None)
    warnings: list[str] = []
    if shard:
        _require_prepared(config, shard)
    dense = team.leader_does(lambda: _prepare_for(team, config, log, warnings, sweep.quiet))
    threads = config.placement.threads or team.threads  # an explicit --threads wins over the rank's share
    config = dataclasses.replace(config, placement=dataclasses.replace(config.placement, threads=threads))
    if prepare_only:
        return {"out": str(config.root), "dense": dense, "prepared": True, "warnings": warnings}
    specs = config.mask_specs()
    store = ResultStore(config.root / "jobs", log)
    if config.schedule == "oneshot":
        plan = oneshot_jobs(specs, config.rewinds, config.epochs, config.control)
        jobs = shard.take(plan) if shard else plan
        log(f"tickets: {len(specs)} mask(s) x {len(config.rewinds)} rewind epoch(s)"
            f"{' + controls' if config.control else ''}, executor {sweep.executor}"
            + (f", shard {shard.index}/{shard.count}: {len(jobs)} of {len(plan)} jobs" if shard else ""))
        results = run_jobs(sweep, config, jobs, store, team, progress)
        if shard:  # the summary covers every shard finished so far; the last task's is complete
            results = [result for job in plan if (result := store.read(job.job_id))]
    else:
        results = []
        for round_ in range(1, len(specs) + 1):
            team.leader_does(lambda: round_masks(config, specs, round_, warnings, log))
            log(f"iterative round {round_}/{len(specs)}: sparsity {specs[round_ - 1].sparsity}")
            jobs = iterative_round(specs, round_, config.rewinds, config.epochs, config.control)
            results += run_jobs(sweep, config, jobs, store, team, progress)
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
    if not (config.root / "dense.json").is_file():
        raise UserInputError(f"--shard {shard.index}/{shard.count} needs {config.root} prepared: run the same "
                             "`harness lth` with --prepare-only first (slurm/train-4gpu does)")


def _summary(config: LthConfig, dense: dict, results: list[dict], warnings: list[str]) -> dict:
    columns = ("job_id", "mask_id", "requested_sparsity", "threshold", "actual_sparsity", "rewind", "control",
               "round", "top1", "top5", "loss", "epochs_trained", "masked_nonzero", "threads", "train_seconds")
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
