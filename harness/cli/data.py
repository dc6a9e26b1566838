"""`harness data synth|download|preprocess|fetch`: building, fetching and preprocessing data sets."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from harness.cli.fetch import fetch
from harness.cli.fields import field_option, options
from harness.cli.options import command_options
from harness.cli.output import emit_json, progress, stdout
from pipelines.data.download import DownloadSettings
from pipelines.data.preprocess import PreprocessSettings
from pipelines.data.synth import SynthSpec
from pipelines.engines import EngineSettings


@click.group()
def data():
    """Build, download and preprocess data sets."""


data.add_command(fetch)


@data.command()
@click.argument("out", type=click.Path(path_type=Path))
@options(*(field_option(SynthSpec, name) for name in ("classes", "train_per_class", "val_per_class", "seed")))
@command_options
def synth(out: Path, classes: int, train_per_class: int, val_per_class: int, seed: int, as_json: bool):
    """Write the embedded default data set: a learnable ImageNet-layout JPEG tree, same seed same bytes."""
    from pipelines.data.synth import build

    spec = SynthSpec(classes=classes, train_per_class=train_per_class, val_per_class=val_per_class, seed=seed)
    with progress(f"synth {out}", "images") as report:
        built = build(out, spec, progress=report)
    images = classes * (train_per_class + val_per_class)
    if as_json:
        emit_json({"out": str(out), "built": built, "images": images, "classes": classes})
    elif built:
        stdout.print(f"wrote {images} images in {classes} classes to {out}")
    else:
        stdout.print(f"{out} already holds this data set: nothing to do")


def engine_options(func):
    """--engine, --workers and --spark-master for the offline jobs."""

    @options(*(field_option(EngineSettings, name) for name in ("engine", "workers", "spark_master")))
    @functools.wraps(func)
    def wrapper(*args, engine: str, workers: int | None, spark_master: str | None, **kwargs):
        from harness.quiet import is_verbose

        from pipelines.capacity import check_workers

        check_workers(workers)
        settings = EngineSettings(engine=engine, workers=workers, spark_master=spark_master, quiet=not is_verbose())
        return func(*args, engine=settings, **kwargs)

    return wrapper


@data.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@options(*(field_option(PreprocessSettings, name) for name in ("size", "shards", "seed")))
@engine_options
@command_options
def preprocess(src: Path, out: Path, size: int, shards: int | None, seed: int, engine, as_json: bool):
    """Decode, convert to RGB, resize and write SRC as TFRecord shards plus manifest.json in OUT."""
    from pipelines.data.preprocess import preprocess as run_preprocess

    settings = PreprocessSettings(size=size, shards=shards, seed=seed)
    with progress(f"preprocess ({engine.engine})", "shards") as report:
        manifest = run_preprocess(src, out, settings, engine, progress=report)
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
        stdout.print(f"  skipped {printable(failure['path'])}: {failure['reason']}", markup=False)


def printable(path: str) -> str:
    """A path for the terminal: bytes of a name that are not UTF-8 shown as \\xNN escapes, not a crash."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@data.command()
@click.argument("urls", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@options(*(field_option(DownloadSettings, name) for name in ("timeout", "retries", "connections")))
@engine_options
@command_options
def download(urls: Path, out: Path, timeout: float, retries: int, connections: int, engine, as_json: bool):
    """Fetch the images of URLS (ImageNet's fall11_urls.txt format) into OUT/<wnid>/<id>.JPEG."""
    from pipelines.data.download import download as run_download

    settings = DownloadSettings(timeout=timeout, retries=retries, connections=connections)
    with progress(f"download ({engine.engine})", "partitions") as report:
        manifest = run_download(urls, out, settings, engine, progress=report)
    if as_json:
        emit_json({"out": str(out), **manifest})
        return
    counts = manifest["counts"]
    stdout.print(f"{out}: {counts['downloaded']} downloaded, {counts['skipped']} already there, "
                 f"{counts['failed']} failed of {counts['total']}; failures with reasons in {out}/manifest.json")
