"""`harness plan` and `harness slurm render`: planning and submitting sweeps on a cluster."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from harness.cli.fields import LiveChoice, field_option, options
from harness.cli.lth import SEARCH_OPTIONS
from harness.cli.options import command_options
from harness.slurm import KINDS, JobOptions
from harness.cli.output import emit_json, stdout
from harness.planner import LIMITS, MAX_SECONDS, MAX_TICKETS, load_model, read_record, record_epochs
from harness.planner import plan as plan_sweep
from pipelines.errors import UserInputError


@click.command()
@click.option("--nodes", type=int, required=True, help=f"Nodes, at most {LIMITS['--nodes']:,}.")
@click.option("--gpus-per-node", type=int, required=True,
              help=f"Workers per node (GPUs, or processes on CPUs), at most {LIMITS['--gpus-per-node']:,}.")
@click.option("--thresholds", type=int, required=True,
              help=f"Masks (pruning thresholds or sparsities); masks x rewinds at most {MAX_TICKETS:,} tickets.")
@click.option("--rewinds", type=int, required=True, help="Rewind epochs 0..K-1 per mask (K at most --epochs).")
@click.option("--epochs", type=int, default=None,
              help=f"Dense epochs, at most {LIMITS['--epochs']:,} (default: the record's grid).")
@click.option("--from", "record", type=click.Path(path_type=Path), default=None,
              help="A sweep run record (harness run --variant sweep-*) to fit the ticket times to.")
@click.option("--epoch-seconds", type=float, default=None,
              help=f"Seconds per retrained epoch, above 0 and at most {MAX_SECONDS:,} (replaces the fit).")
@click.option("--ticket-overhead-seconds", type=float, default=None,
              help=f"Seconds per ticket outside its epochs, 0 to {MAX_SECONDS:,}.")
@click.option("--startup-seconds", type=float, default=None,
              help=f"Seconds before a worker's first ticket starts, 0 to {MAX_SECONDS:,}.")
@click.option("--tail-seconds", type=float, default=None, help=f"Seconds after the last ticket ends, 0 to {MAX_SECONDS:,}.")
@command_options
def plan(nodes: int, gpus_per_node: int, thresholds: int, rewinds: int, epochs: int | None, record: Path | None,
         epoch_seconds, ticket_overhead_seconds, startup_seconds, tail_seconds, as_json: bool):
    """Predict a sweep's makespan, GPU-hours and idle share: static shards vs dynamic hand-out vs one task per ticket."""
    from harness.report import human_duration

    fitted = read_record(record) if record else None
    model = load_model(fitted, f"--from {record}", {
        "epoch_s": epoch_seconds, "overhead_s": ticket_overhead_seconds, "startup_s": startup_seconds,
        "tail_s": tail_seconds})
    if epochs is None:
        if fitted is None:
            raise UserInputError("give --epochs (the dense run's epochs)")
        epochs = record_epochs(fitted, record)
    result = plan_sweep(nodes, gpus_per_node, thresholds, range(rewinds), epochs, model)
    if as_json:
        emit_json(result)
        return
    stdout.print(f"{result['tickets']} tickets ({thresholds} masks x rewinds 0..{rewinds - 1}, {epochs} epochs) on "
                 f"{result['workers']} workers; ticket = {model.overhead_s:.1f} s + epochs x {model.epoch_s:.1f} s, "
                 f"start-up {model.startup_s:.1f} s, tail {model.tail_s:.1f} s ({model.source})", markup=False)
    table = Table("strategy", "makespan", "GPU-hours", "idle share", box=None)
    for name, figures in result["strategies"].items():
        table.add_row(name + (" (best)" if name == result["best"] else ""), human_duration(figures["makespan_s"]),
                      f"{figures['gpu_hours']:.2f}", f"{figures['idle_share']:.1%}")
    stdout.print(table)


@click.group()
def slurm():
    """SLURM job scripts for a cluster."""


@slurm.command("render")
@click.argument("kind", type=LiveChoice(KINDS))
@options(*(field_option(JobOptions, name) for name in (
    "nodes", "gpus_per_node", "tasks_per_node", "cpus_per_task", "partition", "account")))
@field_option(JobOptions, "time", "--time", "time_limit")
@options(field_option(JobOptions, "job_name"), field_option(JobOptions, "scratch"),
         field_option(JobOptions, "search", "--search", "search_folder"),  # `search`: SEARCH_OPTIONS' dict
         *(field_option(JobOptions, name) for name in ("array_tasks", "max_concurrent", "warning")))
@SEARCH_OPTIONS
@click.option("--out", "script", type=click.Path(path_type=Path), default=None,
              help="Write the script here (default: print it).")
@click.option("--force", is_flag=True, help="Replace an existing --out file (it keeps its mode).")
@command_options
def slurm_render(kind: str, nodes, gpus_per_node, tasks_per_node, cpus_per_task, partition, account, time_limit,
                 job_name, scratch, search_folder, array_tasks, max_concurrent, warning, search: dict,
                 script: Path | None, force: bool, as_json: bool):
    """Fill slurm/KIND.sbatch.j2 into a plain sbatch script that runs this project's commands.

    Its `harness lth` runs the whole search these options describe, the recipe included, checked as
    `harness lth` checks it; the template adds where and how it runs (--device, --out, the executor).
    Values are checked first: none may hold a control character; --job-name, --account and --partition
    take letters, digits and . _ - + (partitions comma-separated), --time a SLURM time; --scratch may
    read variables ($NAME, ${NAME}, ${NAME:-default}) but not run commands.
    """
    from harness.cli.lth import lth_arguments, search_config
    from harness.slurm import render, write_script
    from pipelines.outputs import writable_file

    if script:
        writable_file(script, "--out")
        if script.exists() and not force:
            raise UserInputError(f"--out {script} exists: pass --force to replace it, or give another file")
    options = JobOptions(kind=kind, nodes=nodes, gpus_per_node=gpus_per_node, tasks_per_node=tasks_per_node,
                         cpus_per_task=cpus_per_task, partition=partition, account=account, time=time_limit,
                         job_name=job_name, scratch=scratch, search=search_folder, array_tasks=array_tasks,
                         max_concurrent=max_concurrent, warning=warning)
    options.validate()  # the device and fit its `harness lth` runs with
    config = search_config(search, out="$OUT", device=options.device, fit=options.fit)
    text = render(options, config, lth_arguments(config))
    if script:
        write_script(script, text)
    if as_json:
        emit_json({"kind": kind, "script": str(script) if script else None, "text": text})
    elif script:
        stdout.print(f"wrote {script}: submit it with `sbatch {script}`")
    else:
        click.echo(text, nl=False)
