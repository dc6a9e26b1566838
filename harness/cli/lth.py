"""`harness lth`: the lottery-ticket search from the command line."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shlex
import sys
from pathlib import Path

import click
from rich.table import Table

from harness.cli.fields import LiveChoice, field_option, options
from harness.cli.options import (check_model, command_options, given, placement_flags, refuse_inapplicable,
                                 select_backend, start_keras)
from harness.cli.output import emit_json, progress, stderr, stdout
from harness.cli.recipe import PARAMETERS as RECIPE_PARAMETERS, recipe_options
from harness.slurm import refuse_control_characters
from harness.variants import sweep_choices
from pipelines import stop
from pipelines.errors import UserInputError
from pipelines.executors import ExecutorSettings
from pipelines.lth.config import LthConfig
from pipelines.train.fits import FitSettings
from pipelines.train.placement import PlacementSpec
from pipelines.train.recipes import Recipe
from pipelines.train.workloads import get_workload

_SEARCH = {  # LthConfig field: its option
    "data": field_option(LthConfig, "data", type=click.Path(path_type=Path)),
    "workload": field_option(LthConfig, "workload"),
    "model": field_option(LthConfig, "model"),
    "epochs": field_option(LthConfig, "epochs"),
    "rewinds": field_option(LthConfig, "rewinds", "--rewind"),
    "sparsities": field_option(LthConfig, "sparsities", "--sparsity"),
    "scope": field_option(LthConfig, "scope"),
    "seed": field_option(LthConfig, "seed"),
    "thresholds": field_option(LthConfig, "thresholds", "--threshold"),
    "prune_rates": field_option(LthConfig, "prune_rates", "--prune-rate"),
    "rounds": field_option(LthConfig, "rounds"),
    "schedule": field_option(LthConfig, "schedule"),
    "control": click.option("--control", type=click.Choice(["none", "random"]), default="none", show_default=True,
                            help="random: also train each mask from a fresh random initialization."),
    "retrain": field_option(LthConfig, "retrain"),
    "replicates": field_option(LthConfig, "replicates"),
    "stability": field_option(LthConfig, "stability"),
    "allow_collapse": field_option(LthConfig, "allow_collapse"),
    "keep_dense": field_option(LthConfig, "keep_dense"),
    "sparsity_over": field_option(LthConfig, "sparsity_over"),
    "masking": field_option(LthConfig, "masking"),
    "pipeline": field_option(LthConfig, "pipeline"),
    "save_every": field_option(LthConfig, "save_every"),
}
# The placement's fields that shape the search; --device and --threads say where and how it runs.
_PLACEMENT = tuple(f.name for f in dataclasses.fields(PlacementSpec) if f.name not in ("device", "threads"))


def _as_search(func):
    """The search's options passed on as one dict, `search`: {LthConfig field: value}, the recipe's
    overrides under "recipe" and the placement flags under "placement"."""

    @functools.wraps(func)
    def wrapper(*args, recipe_overrides: dict, placement_flags: dict, **kwargs):
        search = {name: kwargs.pop(name) for name in _SEARCH}
        return func(*args, search={**search, "recipe": recipe_overrides, "placement": placement_flags}, **kwargs)

    return wrapper


# Everything that shapes the search, recipe and placement included: `harness slurm render` takes them too.
SEARCH_OPTIONS = options(*_SEARCH.values(), recipe_options, placement_flags, _as_search)


def search_config(search: dict, *, out: str, device: str, threads: int | None = None,
                  fit: FitSettings) -> LthConfig:
    """The search SEARCH_OPTIONS' `search` describes, checked: the one `harness lth` runs and the one
    `harness slurm render` writes into a script. `out`, `device`, `threads` and `fit`: where and how it runs."""
    refuse_inapplicable({"sparsity_over": None if search["keep_dense"] else "applies with --keep-dense"})
    values = {**{name: search[name] for name in _SEARCH}, "data": str(Path(search["data"]).resolve()),
              "control": search["control"] == "random",
              "epochs": search["epochs"] if given("epochs") else get_workload(search["workload"]).epochs,
              "sparsities": () if (search["thresholds"] or search["prune_rates"]) and not given("sparsities")
              else search["sparsities"]}
    config = LthConfig(**values, out=out, recipe=_recipe(search["workload"], search["recipe"]),
                       placement=PlacementSpec(device=device, threads=threads, **search["placement"]), fit=fit)
    config.validate()
    return config


def _recipe(workload: str, overrides: dict) -> Recipe | None:
    """The workload's recipe with the typed `overrides`; None where that is the workload's own."""
    if not overrides:
        return None
    own = get_workload(workload).recipe
    recipe = own.overridden(**overrides)
    return None if recipe == own else recipe


@click.command()
@SEARCH_OPTIONS
@options(
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
    click.option("--grace", type=click.FloatRange(min=1), default=stop.DEFAULT_GRACE, show_default=True,
                 help="Seconds a stop (SIGTERM, SIGINT, SIGUSR1) may take: every training saves its state at its "
                      "next step and the command exits 3; one that has not saved by then loses the steps since its "
                      "last save."),
)
@command_options
def lth(search: dict, executor: str, workers: int, threads: int | None, out: Path, device: str,
        spark_master: str | None, prepare_only: bool, shard: str | None, grace: float, as_json: bool):
    """Train dense with a rewind grid, prune by magnitude, retrain every (mask, rewind) ticket."""
    stop.set_grace(grace)
    from pipelines.data.shards import open_source
    from pipelines.lth.plan import Shard
    from pipelines.capacity import check_threads, check_workers
    from pipelines.outputs import writable_folder

    refuse_inapplicable({
        "workers": None if executor != "serial" else "applies to --executor multiprocessing, mpi or elephas",
        "spark_master": None if executor == "elephas" else "applies to --executor elephas",
    })
    writable_folder(out, "--out")
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
    config = search_config(search, out=str(out.resolve()), device=device, threads=threads, fit=fit)
    check_workers(workers if executor != "serial" else None)  # this machine's bounds: after the search's own checks
    check_threads(threads)
    source = open_source(search["data"])
    config.check_schedule(len(source.split("train")))
    runner.validate()
    if executor == "mpi" and not mpi.launched_by_mpi():  # never returns: this process becomes mpiexec
        mpi.relaunch(workers, [sys.executable, "-m", "harness.cli", *sys.argv[1:]])
    team = mpi.Team() if executor == "mpi" else mpi.Solo()  # binds GPUs before TensorFlow or JAX loads
    select_backend(config.placement)
    # Only rank 0 of MPI ranks loads Keras here: the others train in their child workers alone, and
    # a rank that imported TensorFlow only to wait would pay 4-5 s of CPU and its memory for it.
    team.leader_does(lambda: _load_keras_and_check(config, source))
    from pipelines.lth.search import search as run_search

    with progress("tickets", "jobs") if team.leader else contextlib.nullcontext() as report:
        summary = run_search(config, runner, log=lambda line: stderr.print(line, markup=False), team=team,
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


def _load_keras_and_check(config: LthConfig, source) -> None:
    """Load Keras, then refuse in one line what only it can tell: the pipeline cannot feed this data
    here, a user's network does not build."""
    start_keras(config.placement)
    from pipelines.data import online

    online.check(config.pipeline, source.split("train"), config.training_workload.batch_size)
    check_model(config.training_workload, len(source.classes))


def lth_arguments(config: LthConfig) -> str:
    """The `harness lth` options that give `config`'s search, shell-quoted: those that differ from the
    defaults, the recipe's fields where they differ from the workload's recipe (--out, --device, --threads
    and the executor are the caller's). A value that holds a control character, or that `harness lth`
    would not read back (a number that is none), is refused naming its option."""
    parameters, context = {parameter.name: parameter for parameter in lth.params}, click.Context(lth)
    words = []
    for name, value, default in _search_values(config):
        option, text = parameters[name], _text(name, value)
        if text == _text(name, default):
            continue
        flag = option.opts[0]
        refuse_control_characters(flag, text)
        if option.is_flag:
            if value is not True:
                raise UserInputError(f"{flag} is a flag, on or off: got {value!r}")
            words.append(flag)
            continue
        try:
            option.process_value(context, text)
        except click.BadParameter as error:
            raise UserInputError(f"{flag}: {error.message}") from None
        words += [flag, text]
    return shlex.join(words)


def _search_values(config: LthConfig):
    """(parameter name, value, default) of each option that shapes `config`'s search."""
    defaults = LthConfig(out=config.out, **({"sparsities": ()} if config.thresholds or config.prune_rates else {}))  # as they drop them
    yield from ((name, getattr(config, name), getattr(defaults, name)) for name in _SEARCH)
    yield from ((name, getattr(config.placement, name), getattr(defaults.placement, name)) for name in _PLACEMENT)
    recipe, own = config.training_workload.recipe, get_workload(config.workload).recipe  # after --workload's checks
    yield from ((name, getattr(recipe, field), getattr(own, field)) for field, name in RECIPE_PARAMETERS.items())


def _text(name: str, value) -> str:
    """`value` as its option takes it: a list comma-separated, the control as random or none."""
    if name == "control":
        return "random" if value else "none"
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _print_tickets(summary: dict) -> None:
    dense, mean = summary["dense"], summary["dense_mean"]
    seeds = f" (mean of {mean['n']} seeds: {mean['top1_mean']:.3f} ± {mean['top1_sd']:.3f})" if mean["n"] > 1 else ""
    stdout.print(f"dense: top-1 {dense['top1']:.3f}, top-5 {dense['top5']:.3f} after {dense['epochs']} epochs "
                 f"on {summary['placement']['label']}{seeds}")
    for warning in summary["warnings"]:
        stdout.print(f"warning: {warning}", markup=False)
    table = Table("mask", "sparsity", "rewind", "mode", "top-1", "± sd", "n", "matching", box=None)
    for row in sorted(summary["aggregate"], key=lambda r: (r["actual_sparsity"], r["control"], str(r["mode"]),
                                                           r["rewind_step"] or 0)):
        table.add_row(row["mask_id"], f"{row['actual_sparsity']:.3f}",
                      "random init" if row["control"] else str(row["rewind"]), row["mode"] or "-",
                      f"{row['top1_mean']:.3f}", f"{row['top1_sd']:.3f}", str(row["n"]), "yes" if row["matching"] else "")
    stdout.print(table)
    for found in summary["matching"]:
        stdout.print(f"sparsest matching ticket, rewind {found['rewind']} ({found['mode']}): {found['mask_id']} at "
                     f"sparsity {found['actual_sparsity']:.3f}, top-1 {found['top1_mean']:.3f}", markup=False)
    if summary["stability_aggregate"]:
        barriers = Table("network", "rewind", "error barrier", "± sd", "n", box=None)
        for row in sorted(summary["stability_aggregate"], key=lambda r: (r["actual_sparsity"], r["rewind_step"])):
            barriers.add_row(row["network"], str(row["rewind"]), f"{row['barrier_mean']:.3f}",
                             f"{row['barrier_sd']:.3f}", str(row["n"]))
        stdout.print(barriers)
    stdout.print(f"results: {summary['out']}/summary.json")
