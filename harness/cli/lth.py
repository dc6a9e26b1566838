"""`harness lth`: the lottery-ticket search from the command line."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
from rich.table import Table

from harness.cli.fields import LiveChoice, field_option, options
from harness.cli.options import command_options, given, placement_flags, refuse_inapplicable, start_keras
from harness.cli.output import emit_json, progress, stderr, stdout
from harness.cli.recipe import recipe_options
from harness.variants import sweep_choices
from pipelines.errors import UserInputError
from pipelines.executors import ExecutorSettings
from pipelines.lth.config import LthConfig
from pipelines.train.fits import FitSettings
from pipelines.train.placement import PlacementSpec


GRID_OPTIONS = options(  # the search grid: `slurm render` takes the same options
    field_option(LthConfig, "data", type=click.Path(path_type=Path)),
    field_option(LthConfig, "workload"),
    field_option(LthConfig, "epochs"),
    field_option(LthConfig, "rewinds", "--rewind"),
    field_option(LthConfig, "sparsities", "--sparsity"),
    field_option(LthConfig, "scope"),
    field_option(LthConfig, "seed"),
)


@click.command()
@GRID_OPTIONS
@options(
    field_option(LthConfig, "thresholds", "--threshold"),
    field_option(LthConfig, "schedule"),
    click.option("--control", type=click.Choice(["none", "random"]), default="none", show_default=True,
                 help="random: also train each mask from a fresh random initialization."),
    field_option(LthConfig, "allow_collapse"),
    field_option(LthConfig, "keep_dense"),
    field_option(LthConfig, "sparsity_over"),
    field_option(LthConfig, "masking"),
    field_option(LthConfig, "pipeline"),
    field_option(ExecutorSettings, "executor", type=LiveChoice(lambda: sweep_choices()),
                 help="How tickets run: an executor (mpi relaunches itself under mpiexec unless already there), "
                      "or a way to fit each ticket, one after another."),
    field_option(ExecutorSettings, "workers"),
    field_option(PlacementSpec, "threads"),
    field_option(LthConfig, "out", type=click.Path(path_type=Path), required=True),
    field_option(PlacementSpec, "device"),
    field_option(FitSettings, "spark_master"),
    click.option("--prepare-only", is_flag=True,
                 help="Stop after the dense run and the masks (a cluster's training job)."),
    click.option("--shard", default=None,
                 help="I/N: run only every N-th one-shot ticket from the I-th, in a prepared folder (a job array task)."),
)
@recipe_options
@placement_flags
@command_options
def lth(data: Path, workload: str, epochs: int, rewinds, sparsities, thresholds, scope: str, schedule: str,
        control: str, allow_collapse: bool, keep_dense: tuple[str, ...], sparsity_over: str, masking: str,
        pipeline: str, executor: str, workers: int, threads: int | None, seed: int,
        out: Path, device: str, spark_master: str | None, prepare_only: bool, shard: str | None, recipe_overrides: dict,
        placement_flags: dict, as_json: bool):
    """Train dense with a rewind grid, prune by magnitude, retrain every (mask, rewind) ticket."""
    from pipelines.data.shards import open_source
    from pipelines.lth.plan import Shard
    from pipelines.outputs import writable_folder
    from pipelines.train.workloads import get_workload

    refuse_inapplicable({
        "workers": None if executor != "serial" else "applies to --executor multiprocessing, mpi or elephas",
        "spark_master": None if executor == "elephas" else "applies to --executor elephas",
        "sparsity_over": None if keep_dense else "applies with --keep-dense",
    })
    writable_folder(out, "--out")
    source = open_source(data)
    chosen_shard = Shard.parse(shard) if shard else None
    if chosen_shard and prepare_only:
        raise UserInputError("--prepare-only and --shard are two stages: give one of them")
    from harness.quiet import is_verbose
    from pipelines.executors import mpi
    from pipelines.train.fits import FITS

    if executor in FITS:  # a way to fit each ticket (elephas), the tickets one after another
        runner, fit = ExecutorSettings("serial"), FitSettings(executor, workers, spark_master, not is_verbose())
    else:
        runner, fit = ExecutorSettings(executor, workers), FitSettings(quiet=not is_verbose())
    config = LthConfig(
        data=str(data.resolve()), out=str(out.resolve()), workload=workload, epochs=epochs, rewinds=rewinds,
        sparsities=() if thresholds and not given("sparsities") else sparsities, thresholds=thresholds,
        scope=scope, schedule=schedule, control=control == "random", allow_collapse=allow_collapse,
        keep_dense=keep_dense, sparsity_over=sparsity_over, masking=masking, pipeline=pipeline, seed=seed,
        recipe=get_workload(workload).recipe.overridden(**recipe_overrides) if recipe_overrides else None,
        placement=PlacementSpec(device=device, threads=threads, **placement_flags),
        fit=fit,
    )
    config.validate()
    config.check_schedule(len(source.split("train")))
    runner.validate()
    if executor == "mpi" and not mpi.launched_by_mpi():  # never returns: this process becomes mpiexec
        mpi.relaunch(workers, [sys.executable, "-m", "harness.cli", *sys.argv[1:]])
    team = mpi.Team() if executor == "mpi" else mpi.Solo()  # binds GPUs before TensorFlow or JAX loads
    start_keras(config.placement)
    from pipelines.data import online

    # after Keras: it may import TensorFlow
    online.check(pipeline, source.split("train"), config.training_workload.batch_size)
    from pipelines.lth.search import search

    with progress("tickets", "jobs") if team.leader else contextlib.nullcontext() as report:
        summary = search(config, runner, log=lambda line: stderr.print(line, markup=False), team=team,
                         progress=report,
                         prepare_only=prepare_only, shard=chosen_shard, quiet=not is_verbose())
    if not team.leader:
        return
    if prepare_only:
        dense = summary["dense"]
        if as_json:
            emit_json(summary)
        else:
            stdout.print(f"prepared {summary['out']}: dense top-1 {dense['top1']:.3f} after {dense['epochs']} "
                         f"epochs, masks built; run the tickets with the same command without --prepare-only")
        return
    if as_json:
        emit_json(summary)
    else:
        _print_tickets(summary)
    if summary["failed"]:
        names = ", ".join(f["job_id"] for f in summary["failed"])
        raise click.ClickException(f"{len(summary['failed'])} job(s) failed: {names}; rerun to retry them")


def _print_tickets(summary: dict) -> None:
    dense = summary["dense"]
    stdout.print(f"dense: top-1 {dense['top1']:.3f}, top-5 {dense['top5']:.3f} after {dense['epochs']} epochs "
                 f"on {summary['placement']['label']}")
    for warning in summary["warnings"]:
        stdout.print(f"warning: {warning}", markup=False)
    table = Table("ticket", "sparsity", "rewind", "top-1", "top-5", "epochs", box=None)
    for row in summary["tickets"]:
        rewind = "random init" if row["control"] else str(row["rewind"])
        table.add_row(row["job_id"], f"{row['actual_sparsity']:.3f}", rewind, f"{row['top1']:.3f}",
                      f"{row['top5']:.3f}", str(row["epochs_trained"]))
    stdout.print(table)
    stdout.print(f"results: {summary['out']}/summary.json")
