"""`harness variants` and `harness run`: the catalogue of variants and timing one of them."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.fields import field_option, options
from harness.cli.options import check_model, command_options, placement_flags, refuse_inapplicable, start_keras
from harness.quiet import preload_tensorflow
from harness.runner import RunSettings
from pipelines.lth.config import LthConfig
from harness.cli.output import emit_json, progress, stdout
from harness.cli.recipe import PARAMETERS as RECIPE_PARAMETERS, recipe_options


@click.command()
@command_options
def variants(as_json: bool):
    """List the variants that `harness run` measures, with the Keras backends each takes (`--backend`;
    a dash: the variant trains no model), then the networks (`--model`) and workloads (`--workload`)."""
    from harness.variants import catalogue
    from pipelines.train.models import MODELS
    from pipelines.train.workloads import WORKLOADS

    variants = catalogue()
    if as_json:
        emit_json({"variants": [v.as_dict() for v in variants.values()],
                   "models": [{"name": e.name, "summary": e.summary, "source": e.value.source} for e in MODELS.entries()],
                   "workloads": [{"name": e.name, "summary": e.summary, "model": e.value.model}
                                 for e in WORKLOADS.entries()]})
        return
    backends = {name: ", ".join(v.backends) or "-" for name, v in variants.items()}
    width, backends_width = max(map(len, variants)), max(map(len, backends.values()))
    for v in variants.values():
        click.echo(f"{v.name:<{width}}  {backends[v.name]:<{backends_width}}  {v.summary}")
    for title, registry in (("models (--model; or your own package.module:function)", MODELS),
                            ("workloads (--workload: a model, its input size and recipe)", WORKLOADS)):
        click.echo(f"\n{title}")
        width = max(map(len, registry))
        for entry in registry.entries():
            click.echo(f"{entry.name:<{width}}  {entry.summary}")


@click.command()
@click.option("--variant", required=True, help="Variant name; `harness variants` lists them.")
@field_option(LthConfig, "data", type=click.Path(path_type=Path),
              help="ImageNet-layout folder, or the output of `harness data preprocess` for *-offline.")
@field_option(LthConfig, "workload")
@field_option(LthConfig, "model")
@options(*(field_option(RunSettings, name) for name in ("steps", "warmup", "seed", "cache_dir", "workers")))
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Folder that receives the run record.")
@field_option(RunSettings, "sample_interval_s", "--sample-interval", "sample_interval")
@click.option("--profile", is_flag=True,
              help="Training: profile steps after the timed ones (TensorBoard files under RESULTS/profiles/).")
@field_option(RunSettings, "profile_steps")
@click.option("--no-verdict", is_flag=True,
              help="Training: skip the model-ceiling and pipeline-supply measurements after the run.")
@recipe_options
@placement_flags
@command_options
def run(variant: str, data: Path, workload: str, model: str | None, steps: int, warmup: int, seed: int, cache_dir: Path | None,
        workers: int, results: Path, sample_interval: float, profile: bool, profile_steps: int, no_verdict: bool,
        recipe_overrides: dict, placement_flags: dict, as_json: bool):
    """Time one variant: warm-up steps, then timed steps; write a run record.

    A monitor samples GPU occupation and CPU use throughout. Training runs end with a verdict:
    the model ceiling and the pipeline supply, each measured alone, and which one bounds the run."""
    from harness.variants import get_variant
    from pipelines.data.shards import open_source
    from pipelines.capacity import check_workers
    from pipelines.outputs import writable_folder
    from pipelines.train.workloads import get_workload

    chosen = get_variant(variant)
    training = None if chosen.mode == "train" else f"applies to training variants, not {variant}"
    refuse_inapplicable({
        "backend": None if chosen.backends else f"applies to variants that train a model, not {variant}",
        "model": training, "logical_devices": training, "precision": training, "jit": training, "profile": training,
        "profile_steps": training, "no_verdict": training,
        "cache_dir": None if chosen.pipeline == "cached" else f"applies to *-cached variants, not {variant}",
        "workers": None if chosen.mode == "sweep" else f"applies to sweep-* variants, not {variant}",
        **dict.fromkeys(RECIPE_PARAMETERS.values(), training),
        RECIPE_PARAMETERS["batch_size"]: None if chosen.mode in ("train", "data") else
        f"applies to training and data variants, not {variant}",
    })
    check_workers(workers if chosen.mode == "sweep" else None)
    writable_folder(results, "--results")
    if cache_dir:
        writable_folder(cache_dir, "--cache-dir")
    chosen_workload = get_workload(workload).with_model(model).with_recipe(**recipe_overrides)
    settings = RunSettings(source=open_source(data), workload=chosen_workload,
                           steps=steps, warmup=warmup, seed=seed, cache_dir=cache_dir, workers=workers,
                           sample_interval_s=sample_interval, profile_root=results / "profiles" if profile else None,
                           profile_steps=profile_steps, verdict=not no_verdict, **placement_flags)
    settings.validate()
    spec = settings.placement_spec(chosen)
    if chosen.mode == "train":
        spec.validate()
        settings.check_schedule(chosen)
    if chosen.backends:  # it trains a model: Keras, on the chosen backend (the others need no Keras at all)
        start_keras(spec)
        check_model(chosen_workload, len(settings.source.classes))
    else:
        preload_tensorflow()
    from harness.figures import run_figures
    from harness.results import save_record
    from harness.runner import run_variant

    with progress(f"{variant} on {workload}", "steps") as report:
        record = run_variant(chosen, settings, on_step=report)
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

    where = f" ({record['placement']['label']}, {record['backend']})" if "placement" in record else ""
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
