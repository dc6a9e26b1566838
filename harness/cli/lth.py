"""`harness lth`: the lottery-ticket search from the command line."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
from rich.table import Table

from harness.cli.options import command_options, number_list, placement_flags, refuse_inapplicable
from harness.cli.output import emit_json, progress_bar, stderr, stdout
from harness.quiet import preload_tensorflow
from pipelines.errors import UserInputError


@click.command()
@click.option("--data", type=click.Path(path_type=Path), default=Path("data/default"), show_default=True,
              help="ImageNet-layout folder (train/ and val/), or preprocessed shards.")
@click.option("--workload", default="small", show_default=True)
@click.option("--epochs", type=int, default=4, show_default=True, help="Dense training epochs.")
@click.option("--rewind", "rewinds", default="0,1,2", show_default=True, callback=number_list(int),
              help="Rewind epochs (late resetting); 0 is the initialization.")
@click.option("--sparsity", "sparsities", default=None, callback=number_list(float),
              help="Target sparsities, e.g. 0.5,0.8,0.9 (default 0.5,0.8,0.9 unless --threshold).")
@click.option("--threshold", "thresholds", default=None, callback=number_list(float),
              help="Absolute magnitudes to prune at or below, instead of sparsities (global scope).")
@click.option("--scope", type=click.Choice(["global", "layer"]), default="global", show_default=True)
@click.option("--schedule", type=click.Choice(["oneshot", "iterative"]), default="oneshot", show_default=True)
@click.option("--control", type=click.Choice(["none", "random"]), default="none", show_default=True,
              help="random: also train each mask from a fresh random initialization.")
@click.option("--allow-collapse", is_flag=True, help="Train masks that prune whole layers (warns instead of refusing).")
@click.option("--masking", type=click.Choice(["gradient", "constraint"]), default="gradient", show_default=True)
@click.option("--executor", type=click.Choice(["serial", "multiprocessing", "mpi", "elephas"]), default="serial",
              show_default=True, help="How tickets run (mpi: relaunches itself under mpiexec unless already there).")
@click.option("--workers", type=int, default=2, show_default=True,
              help="multiprocessing: processes; mpi: ranks when relaunching; elephas: Spark partitions.")
@click.option("--threads", type=int, default=None,
              help="TensorFlow threads per job (default: all cores; multiprocessing and mpi: cores / workers).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for checkpoints, masks, results.")
@click.option("--device", type=click.Choice(["cpu", "gpu1", "gpu4"]), default="cpu", show_default=True)
@click.option("--spark-master", default=None, help="elephas: a Spark cluster's master URL (default: local mode).")
@click.option("--prepare-only", is_flag=True, help="Stop after the dense run and the masks (a cluster's training job).")
@click.option("--shard", default=None,
              help="I/N: run only every N-th one-shot ticket from the I-th, in a prepared folder (a job array task).")
@placement_flags
@command_options
def lth(data: Path, workload: str, epochs: int, rewinds, sparsities, thresholds, scope: str, schedule: str,
        control: str, allow_collapse: bool, masking: str, executor: str, workers: int, threads: int | None, seed: int,
        out: Path, device: str, spark_master: str | None, prepare_only: bool, shard: str | None, placement_flags: dict,
        as_json: bool):
    """Train dense with a rewind grid, prune by magnitude, retrain every (mask, rewind) ticket."""
    from pipelines.data.shards import open_source
    from pipelines.lth.config import LthConfig
    from pipelines.lth.plan import Shard
    from pipelines.outputs import writable_folder
    from pipelines.train.placement import PlacementSpec
    from pipelines.train.workloads import get_workload

    refuse_inapplicable({
        "workers": None if executor != "serial" else "applies to --executor multiprocessing, mpi or elephas",
        "spark_master": None if executor == "elephas" else "applies to --executor elephas",
    })
    writable_folder(out, "--out")
    open_source(data)
    get_workload(workload)
    chosen_shard = Shard.parse(shard) if shard else None
    if chosen_shard and prepare_only:
        raise UserInputError("--prepare-only and --shard are two stages: give one of them")
    from harness.quiet import is_verbose
    from pipelines.executors import ExecutorSettings, mpi
    from pipelines.train.fits import FITS, FitSettings

    if executor in FITS:  # a way to fit each ticket (elephas), the tickets one after another
        runner, fit = ExecutorSettings("serial"), FitSettings(executor, workers, spark_master, not is_verbose())
    else:
        runner, fit = ExecutorSettings(executor, workers), FitSettings(quiet=not is_verbose())
    config = LthConfig(
        data=str(data.resolve()), out=str(out.resolve()), workload=workload, epochs=epochs, rewinds=rewinds,
        sparsities=sparsities if (sparsities or thresholds) else (0.5, 0.8, 0.9), thresholds=thresholds,
        scope=scope, schedule=schedule, control=control == "random", allow_collapse=allow_collapse,
        masking=masking, seed=seed, placement=PlacementSpec(device=device, threads=threads, **placement_flags),
        fit=fit,
    )
    config.validate()
    runner.validate()
    if executor == "mpi" and not mpi.launched_by_mpi():  # never returns: this process becomes mpiexec
        mpi.relaunch(workers, [sys.executable, "-m", "harness.cli", *sys.argv[1:]])
    team = mpi.Team() if executor == "mpi" else mpi.Solo()  # binds GPUs before TensorFlow loads
    preload_tensorflow()
    from pipelines.lth.search import search

    with progress_bar("tickets") if team.leader else contextlib.nullcontext() as bar:
        task = bar.add_task("jobs", total=None) if bar else None
        summary = search(config, runner, log=lambda line: stderr.print(line, markup=False), team=team,
                         progress=(lambda done, total: bar.update(task, completed=done, total=total)) if bar else None,
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
