"""The `harness` command line.

Every command takes --json (one JSON object on the last stdout line) and --verbose (let TensorFlow,
Spark and Java speak). Mistakes in the user's input exit 2 with one line on stderr. TensorFlow is
imported lazily, inside the commands that need it, so that --help stays instant.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.quiet import preload_tensorflow, silence
from pipelines.errors import UserInputError

stderr = Console(stderr=True)
stdout = Console(soft_wrap=True)


class InputError(click.ClickException):
    exit_code = 2


class HarnessGroup(click.Group):
    """Turns a UserInputError anywhere below into click's one-line error with exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserInputError as error:
            raise InputError(str(error)) from None


def command_options(func):
    """--json and --verbose for every command; silences the libraries before the command runs."""

    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last stdout line.")
    @click.option("--verbose", is_flag=True, help="Show TensorFlow, Spark and Java log output.")
    @functools.wraps(func)
    def wrapper(*args, as_json: bool, verbose: bool, **kwargs):
        silence(verbose)
        return func(*args, as_json=as_json, **kwargs)

    return wrapper


def placement_flags(func):
    """--logical-devices, --precision and --jit, passed on as `placement_flags` (a dict)."""

    @click.option("--logical-devices", type=int, default=None,
                  help="Run a GPU placement on N logical CPU devices (labelled so, never a GPU figure).")
    @click.option("--precision", type=click.Choice(["float32", "mixed_float16"]), default="float32",
                  show_default=True, help="mixed_float16 needs GPUs.")
    @click.option("--jit", is_flag=True, help="XLA-compile the training step (GPUs).")
    @functools.wraps(func)
    def wrapper(*args, logical_devices: int | None, precision: str, jit: bool, **kwargs):
        flags = {"logical_devices": logical_devices, "precision": precision, "jit": jit}
        return func(*args, placement_flags=flags, **kwargs)

    return wrapper


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, sort_keys=True))


def progress_bar(description: str) -> Progress:
    return Progress(
        TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True,
    )


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Benchmark and profile the lottery-ticket search on MobileNetV2."""


@cli.command()
@command_options
def variants(as_json: bool):
    """List the variants that `harness run` measures."""
    from harness.variants import VARIANTS

    if as_json:
        emit_json({"variants": [v.__dict__ for v in VARIANTS.values()]})
        return
    width = max(len(name) for name in VARIANTS)
    for v in VARIANTS.values():
        click.echo(f"{v.name:<{width}}  {v.summary}")


@cli.command()
@click.option("--variant", required=True, help="Variant name; `harness variants` lists them.")
@click.option("--data", type=click.Path(path_type=Path), default=Path("data/default"), show_default=True,
              help="ImageNet-layout folder, or the output of `harness data preprocess` for *-offline.")
@click.option("--workload", default="small", show_default=True, help="smoke, small or imagenet.")
@click.option("--steps", type=int, default=50, show_default=True, help="Timed steps.")
@click.option("--warmup", type=int, default=5, show_default=True,
              help="Untimed steps before them (*-cached adds one epoch to fill its cache).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="*-cached: cache decoded images in a file there instead of in memory.")
@click.option("--workers", type=int, default=2, show_default=True, help="sweep-*: the executor's workers.")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Folder that receives the run record.")
@click.option("--sample-interval", type=float, default=0.25, show_default=True,
              help="Seconds between GPU/CPU samples; 0 runs without the monitor.")
@click.option("--profile", is_flag=True,
              help="Training: profile steps after the timed ones (TensorBoard files under RESULTS/profiles/).")
@click.option("--profile-steps", type=int, default=5, show_default=True)
@click.option("--no-verdict", is_flag=True,
              help="Training: skip the model-ceiling and pipeline-supply measurements after the run.")
@placement_flags
@command_options
def run(variant: str, data: Path, workload: str, steps: int, warmup: int, seed: int, cache_dir: Path | None,
        workers: int, results: Path, sample_interval: float, profile: bool, profile_steps: int, no_verdict: bool,
        placement_flags: dict, as_json: bool):
    """Time one variant: warm-up steps, then timed steps; write a run record.

    A monitor samples GPU occupation and CPU use throughout. Training runs end with a verdict:
    the model ceiling and the pipeline supply, each measured alone, and which one bounds the run."""
    from harness.runner import RunSettings
    from harness.variants import get_variant
    from pipelines.data.shards import open_source
    from pipelines.train.workloads import get_workload

    chosen = get_variant(variant)
    settings = RunSettings(source=open_source(data), workload=get_workload(workload), steps=steps,
                           warmup=warmup, seed=seed, cache_dir=cache_dir, workers=workers,
                           sample_interval_s=sample_interval, profile_root=results / "profiles" if profile else None,
                           profile_steps=profile_steps, verdict=not no_verdict, **placement_flags)
    settings.validate()
    if chosen.mode == "train":
        settings.placement_spec(chosen).validate()
    preload_tensorflow()
    from harness.figures import run_figures
    from harness.results import save_record
    from harness.runner import run_variant

    with progress_bar(f"{variant} on {workload}") as bar:
        task = bar.add_task("steps", total=None)
        record = run_variant(chosen, settings, on_step=lambda done, total: bar.update(task, completed=done,
                                                                                      total=total))
    path = save_record(results, record)
    timing = record["timing"]
    fraction = record.get("fraction_of_ceiling")
    figures = run_figures(record)
    if as_json:
        emit_json({"record": str(path), "variant": variant, "workload": workload,
                   "images_per_s": timing["images_per_s"], "step_p50_s": timing["step_p50_s"],
                   "step_p90_s": timing["step_p90_s"], "imagenet_epoch_s": timing["imagenet_epoch_s"],
                   "fraction_of_ceiling": fraction, **figures})
        return
    from harness.report import human_duration

    where = f" ({record['placement']['label']})" if "placement" in record else ""
    line = (f"{variant} on {workload}{where}: {timing['images_per_s']:.1f} images/s, "
            f"step p50 {timing['step_p50_s'] * 1000:.0f} ms, p90 {timing['step_p90_s'] * 1000:.0f} ms, "
            f"ImageNet epoch {human_duration(timing['imagenet_epoch_s'])} (extrapolated)")
    if fraction is not None:
        line += f", {fraction:.2f} of the decode ceiling ({record['decode_ceiling']['images_per_s']:.0f} images/s)"
    if "sweep" in record:
        sweep = record["sweep"]
        line = (f"{variant} on {workload}: {sweep['jobs']} jobs in {sweep['makespan_s']:.0f} s "
                f"({sweep['jobs_per_hour']:.0f} jobs/hour) with {sweep['workers']} worker(s), "
                f"{timing['images_per_s']:.1f} training images/s")
    stdout.print(line)
    stdout.print(monitor_line(figures))
    if "verdict" in record:
        stdout.print(f"verdict: {record['verdict']['advice']}", markup=False)
    if "profile" in record:
        stdout.print(f"profile: {record['profile']['logdir']} (tensorboard --logdir {record['profile']['logdir']})",
                     markup=False)
    stdout.print(f"record: {path}")


def monitor_line(figures: dict) -> str:
    def percent(key: str) -> str:
        return f"{figures[key]:.0f}%" if figures[key] is not None else "n/a"

    return (f"GPU utilization {percent('gpu_util_pct')}, SM occupancy {percent('sm_occupancy_pct')}, "
            f"CPU {percent('cpu_pct')}, input-bound {percent('input_bound_pct')}"
            + (f" ({figures['gpu_note']})" if figures["gpu_note"] else ""))


@cli.command()
@click.argument("results", type=click.Path(path_type=Path), default=Path("results"))
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/index.html"), show_default=True)
@click.option("--baseline", default=None, help="Variant to compare against (default: the slowest CPU run).")
@click.option("--lth", "searches", type=click.Path(path_type=Path), multiple=True,
              help="A `harness lth --out` folder to chart (those directly inside RESULTS are found anyway).")
@command_options
def report(results: Path, out: Path, baseline: str | None, searches: tuple[Path, ...], as_json: bool):
    """Render the run records in RESULTS (default: results/) and LTH searches as one self-contained HTML page."""
    from harness.report import write_report
    from harness.results import load_records, load_searches
    from harness.rows import summarize

    records = load_records(results)
    found = load_searches([results, *searches])
    write_report(records, out, baseline, found)
    rows = summarize(records, baseline)
    if as_json:
        emit_json({"report": str(out), "runs": len(records), "searches": [s["path"] for s in found],
                   "rows": [row.__dict__ for row in rows]})
        return
    table = Table("variant", "workload", "images/s", "speedup", "baseline", "verdict", box=None)
    for row in rows:
        speedup = f"{row.speedup:.2f}x" if row.speedup is not None else "-"
        table.add_row(row.label, row.workload, f"{row.images_per_s:.1f}", speedup, row.baseline or "-",
                      row.verdict or "-")
    stdout.print(table)
    stdout.print(f"report: {out.resolve()}")


@cli.command()
@click.argument("first")
@click.argument("second")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Where run ids are looked up.")
@command_options
def compare(first: str, second: str, results: Path, as_json: bool):
    """Print each figure of run FIRST and run SECOND with their ratio (SECOND / FIRST).

    FIRST and SECOND are run record files or run ids (unique prefixes do)."""
    from harness.figures import compare as compare_records
    from harness.results import find_record

    a, b = find_record(first, results), find_record(second, results)
    rows = compare_records(a, b)
    if as_json:
        emit_json({"a": a["run_id"], "b": b["run_id"], "figures": rows})
        return
    table = Table("figure", a["run_id"], b["run_id"], "B/A", "", box=None)
    for row in rows:
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "-"
        verdict = {True: "better", False: "worse", None: ""}[row["improved"]]
        table.add_row(row["label"], f"{row['a']:.4g}", f"{row['b']:.4g}", ratio, verdict)
    stdout.print(table)


def number_list(kind):
    """A click callback parsing "0.5,0.8,0.9" into a tuple of `kind`."""

    def parse(ctx, param, value):
        if value is None:
            return ()
        try:
            return tuple(kind(item) for item in value.split(",") if item.strip())
        except ValueError:
            raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None

    return parse


@cli.command()
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
    from pipelines.train.placement import PlacementSpec
    from pipelines.train.workloads import get_workload

    open_source(data)
    get_workload(workload)
    chosen_shard = Shard.parse(shard) if shard else None
    if chosen_shard and prepare_only:
        raise UserInputError("--prepare-only and --shard are two stages: give one of them")
    config = LthConfig(
        data=str(data.resolve()), out=str(out.resolve()), workload=workload, epochs=epochs, rewinds=rewinds,
        sparsities=sparsities if (sparsities or thresholds) else (0.5, 0.8, 0.9), thresholds=thresholds,
        scope=scope, schedule=schedule, control=control == "random", allow_collapse=allow_collapse,
        masking=masking, seed=seed, placement=PlacementSpec(device=device, threads=threads, **placement_flags),
    )
    config.validate()
    from harness.quiet import is_verbose
    from pipelines.sweep import SweepSettings
    from pipelines.sweep import mpi

    sweep = SweepSettings(executor=executor, workers=workers, quiet=not is_verbose(), spark_master=spark_master)
    sweep.validate()
    if executor == "mpi" and not mpi.launched_by_mpi():
        sys.exit(mpi.relaunch(workers, sys.argv[1:]))
    team = mpi.Team() if executor == "mpi" else mpi.Solo()  # binds GPUs before TensorFlow loads
    preload_tensorflow()
    from pipelines.lth.search import search

    with progress_bar("tickets") if team.leader else contextlib.nullcontext() as bar:
        task = bar.add_task("jobs", total=None) if bar else None
        summary = search(config, sweep, log=lambda line: stderr.print(line, markup=False), team=team,
                         progress=(lambda done, total: bar.update(task, completed=done, total=total)) if bar else None,
                         prepare_only=prepare_only, shard=chosen_shard)
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


@cli.group()
def data():
    """Build, download and preprocess data sets."""


@data.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--classes", type=int, default=10, show_default=True)
@click.option("--train-per-class", type=int, default=100, show_default=True)
@click.option("--val-per-class", type=int, default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@command_options
def synth(out: Path, classes: int, train_per_class: int, val_per_class: int, seed: int, as_json: bool):
    """Write the embedded default data set: a learnable ImageNet-layout JPEG tree, same seed same bytes."""
    from pipelines.data.synth import SynthSpec, build

    spec = SynthSpec(classes=classes, train_per_class=train_per_class, val_per_class=val_per_class, seed=seed)
    with progress_bar(f"synth {out}") as bar:
        task = bar.add_task("images", total=None)
        built = build(out, spec, progress=lambda done, total: bar.update(task, completed=done, total=total))
    images = classes * (train_per_class + val_per_class)
    if as_json:
        emit_json({"out": str(out), "built": built, "images": images, "classes": classes})
    elif built:
        stdout.print(f"wrote {images} images in {classes} classes to {out}")
    else:
        stdout.print(f"{out} already holds this data set: nothing to do")


def engine_options(func):
    """--engine, --workers and --spark-master for the offline jobs."""

    @click.option("--engine", type=click.Choice(["spark", "local"]), default="spark", show_default=True,
                  help="Spark (local mode unless --spark-master) or a local process pool.")
    @click.option("--workers", type=int, default=None, help="local: processes (default: one per core).")
    @click.option("--spark-master", default=None, help="spark: cluster master URL (default local[*]).")
    @functools.wraps(func)
    def wrapper(*args, engine: str, workers: int | None, spark_master: str | None, **kwargs):
        from harness.quiet import is_verbose
        from pipelines.engines import EngineSettings

        settings = EngineSettings(engine=engine, workers=workers, spark_master=spark_master, quiet=not is_verbose())
        return func(*args, engine=settings, **kwargs)

    return wrapper


@data.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--size", type=int, default=224, show_default=True, help="Square image size in the shards.")
@click.option("--shards", type=int, default=None, help="Train shards (default: ~1 per 1,000 images, 2 per core).")
@click.option("--seed", type=int, default=0, show_default=True, help="Deals examples to shards.")
@engine_options
@command_options
def preprocess(src: Path, out: Path, size: int, shards: int | None, seed: int, engine, as_json: bool):
    """Decode, convert to RGB, resize and write SRC as TFRecord shards plus manifest.json in OUT."""
    from pipelines.data.preprocess import PreprocessSettings, preprocess as run_preprocess

    settings = PreprocessSettings(size=size, shards=shards, seed=seed)
    with progress_bar(f"preprocess ({engine.engine})") as bar:
        task = bar.add_task("shards", total=None)
        manifest = run_preprocess(src, out, settings, engine,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    counts = {name: split["examples"] for name, split in manifest["splits"].items()}
    if as_json:
        emit_json({"out": str(out), "ran": manifest["ran"], "engine": manifest["engine"], "examples": counts,
                   "shards": {n: len(s["files"]) for n, s in manifest["splits"].items()},
                   "failed": manifest["failed"], "resumed_shards": manifest.get("resumed_shards", 0)})
        return
    if not manifest["ran"]:
        stdout.print(f"{out} is already complete: nothing to do")
    summary = ", ".join(f"{n} {c}" for n, c in counts.items())
    stdout.print(f"{out}: {summary} examples at {size}x{size}; {len(manifest['failed'])} file(s) skipped")
    for failure in manifest["failed"]:
        stdout.print(f"  skipped {failure['path']}: {failure['reason']}", markup=False)


@data.command()
@click.argument("urls", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per socket operation.")
@click.option("--retries", type=int, default=3, show_default=True,
              help="Extra attempts after timeouts, connection errors, 5xx and truncated bodies.")
@click.option("--connections", type=int, default=8, show_default=True, help="Concurrent requests per task.")
@engine_options
@command_options
def download(urls: Path, out: Path, timeout: float, retries: int, connections: int, engine, as_json: bool):
    """Fetch the images of URLS (ImageNet's fall11_urls.txt format) into OUT/<wnid>/<id>.JPEG."""
    from pipelines.data.download import DownloadSettings, download as run_download

    settings = DownloadSettings(timeout=timeout, retries=retries, connections=connections)
    with progress_bar(f"download ({engine.engine})") as bar:
        task = bar.add_task("partitions", total=None)
        manifest = run_download(urls, out, settings, engine,
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        emit_json({"out": str(out), **manifest})
        return
    counts = manifest["counts"]
    stdout.print(f"{out}: {counts['downloaded']} downloaded, {counts['skipped']} already there, "
                 f"{counts['failed']} failed of {counts['total']}; failures with reasons in {out}/manifest.json")


@cli.command()
@click.option("--nodes", type=int, required=True)
@click.option("--gpus-per-node", type=int, required=True, help="Workers per node (GPUs, or processes on CPUs).")
@click.option("--thresholds", type=int, required=True, help="Masks (pruning thresholds or sparsities).")
@click.option("--rewinds", type=int, required=True, help="Rewind epochs 0..K-1 per mask.")
@click.option("--epochs", type=int, default=None, help="Dense epochs (default: the record's grid).")
@click.option("--from", "record", type=click.Path(path_type=Path), default=None,
              help="A sweep run record (harness run --variant sweep-*) to fit the ticket times to.")
@click.option("--epoch-seconds", type=float, default=None, help="Seconds per retrained epoch (replaces the fit).")
@click.option("--ticket-overhead-seconds", type=float, default=None, help="Seconds per ticket outside its epochs.")
@click.option("--startup-seconds", type=float, default=None, help="Seconds before a worker's first ticket starts.")
@click.option("--tail-seconds", type=float, default=None, help="Seconds after the last ticket ends.")
@command_options
def plan(nodes: int, gpus_per_node: int, thresholds: int, rewinds: int, epochs: int | None, record: Path | None,
         epoch_seconds, ticket_overhead_seconds, startup_seconds, tail_seconds, as_json: bool):
    """Predict a sweep's makespan, GPU-hours and idle share: static shards vs dynamic hand-out vs one task per ticket."""
    from harness.planner import load_model, plan as plan_sweep
    from harness.report import human_duration

    model = load_model(record, {"epoch_s": epoch_seconds, "overhead_s": ticket_overhead_seconds,
                                "startup_s": startup_seconds, "tail_s": tail_seconds})
    if epochs is None:
        if record is None:
            raise UserInputError("give --epochs (the dense run's epochs)")
        epochs = json.loads(record.read_text())["sweep"]["grid"]["epochs"]
    result = plan_sweep(nodes, gpus_per_node, thresholds, tuple(range(rewinds)), epochs, model)
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


@cli.group()
def slurm():
    """SLURM job scripts for a cluster."""


@slurm.command("render")
@click.argument("kind", type=click.Choice(["train-4gpu", "sweep-mpi", "spark-cluster", "sweep-array"]))
@click.option("--nodes", type=int, default=None, help="Nodes (default: train-4gpu 1, sweep-mpi 20, spark-cluster 4).")
@click.option("--gpus-per-node", type=int, default=4, show_default=True, help="0 for CPU-only nodes.")
@click.option("--tasks-per-node", type=int, default=None, help="sweep-mpi ranks per node (default: one per GPU).")
@click.option("--cpus-per-task", type=int, default=None)
@click.option("--partition", default=None)
@click.option("--account", default=None)
@click.option("--time", "time_limit", default="24:00:00", show_default=True)
@click.option("--job-name", default=None)
@click.option("--scratch", default="${SCRATCH:-$HOME}/lth-harness", show_default=True,
              help="Shared folder for the search, a shell expression evaluated on the node.")
@click.option("--search", default="search", show_default=True, help="The search's folder under --scratch.")
@click.option("--array-tasks", type=int, default=100, show_default=True, help="sweep-array: tasks in the array.")
@click.option("--max-concurrent", type=int, default=None, help="sweep-array: tasks running at once (%N).")
@click.option("--data", type=click.Path(path_type=Path), default=Path("data/default"), show_default=True)
@click.option("--workload", default="small", show_default=True)
@click.option("--epochs", type=int, default=4, show_default=True)
@click.option("--rewind", "rewinds", default="0,1,2", show_default=True, callback=number_list(int))
@click.option("--sparsity", "sparsities", default="0.5,0.8,0.9", show_default=True, callback=number_list(float))
@click.option("--scope", type=click.Choice(["global", "layer"]), default="global", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "script", type=click.Path(path_type=Path), default=None,
              help="Write the script here (default: print it).")
@command_options
def slurm_render(kind: str, nodes, gpus_per_node, tasks_per_node, cpus_per_task, partition, account, time_limit,
                 job_name, scratch, search, array_tasks, max_concurrent, data, workload, epochs, rewinds, sparsities,
                 scope, seed, script: Path | None, as_json: bool):
    """Fill slurm/KIND.sbatch.j2 into a plain sbatch script that runs this project's commands."""
    from harness.slurm import JobOptions, render
    from pipelines import atomic
    from pipelines.train.workloads import get_workload

    get_workload(workload)
    options = JobOptions(kind=kind, nodes=nodes, gpus_per_node=gpus_per_node, tasks_per_node=tasks_per_node,
                         cpus_per_task=cpus_per_task, partition=partition, account=account, time=time_limit,
                         job_name=job_name, scratch=scratch, search=search, array_tasks=array_tasks,
                         max_concurrent=max_concurrent,
                         lth={"data": data, "workload": workload, "epochs": epochs, "rewinds": rewinds,
                              "sparsities": sparsities, "scope": scope, "seed": seed})
    text = render(options)
    if script:
        atomic.write_bytes(script, text.encode())
        script.chmod(0o755)
    if as_json:
        emit_json({"kind": kind, "script": str(script) if script else None, "text": text})
    elif script:
        stdout.print(f"wrote {script}: submit it with `sbatch {script}`")
    else:
        click.echo(text, nl=False)


def main() -> None:
    cli(prog_name="harness")


if __name__ == "__main__":
    sys.exit(main())
