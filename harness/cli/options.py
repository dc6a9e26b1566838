"""What every command shares: the one-line error contract and the option groups used by several commands."""

from __future__ import annotations

import functools
import importlib

import click
from click.core import ParameterSource

from harness.cli.fields import field_option, options
from harness.quiet import preload_keras, preload_tensorflow, silence
from pipelines import backend
from pipelines.errors import UserInputError
from pipelines.train.placement import DEVICES, PlacementSpec


class InputError(click.ClickException):
    exit_code = 2


class HarnessGroup(click.Group):
    """Turns a UserInputError anywhere below into click's one-line error with exit status 2.

    Its commands are named in `lazy` as {name: "module:attribute"}, each module imported when its
    command runs (or --help lists it): a command does not pay for the others' imports, which were
    half of the start-up of a command that trains nothing."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx, name):
        if name in self.lazy and name not in self.commands:
            module, attribute = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

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


def select_backend(spec: PlacementSpec) -> None:
    """Make the placement's backend (with its logical devices, on JAX) this process's and its children's."""
    backend.select(spec.backend, host_devices=spec.logical_devices if DEVICES[spec.device].gpus else None)


def start_keras(spec: PlacementSpec) -> None:
    """Select the placement's backend and import Keras, quietly: before anything else imports Keras.
    TensorFlow too, where it is installed, whichever the backend: the data side reads through tf.data
    wherever it can (evaluation of image folders included)."""
    select_backend(spec)
    preload_keras()
    preload_tensorflow()


def check_model(workload, data_classes: int) -> None:
    """Build a user's own network once (`--model package.module:function`) and refuse it in one line
    if it cannot be trained, before any work starts; the registered networks are known to build."""
    if ":" in workload.model:
        from pipelines.train.model import build_model

        build_model(workload, workload.classes_for(data_classes), seed=0)


def placement_flags(func):
    """--backend, --logical-devices, --precision and --jit, passed on as `placement_flags` (a dict)."""

    @options(*(field_option(PlacementSpec, name) for name in ("backend", "logical_devices", "precision", "jit")))
    @functools.wraps(func)
    def wrapper(*args, backend: str, logical_devices: int | None, precision: str, jit: bool, **kwargs):
        flags = {"backend": backend, "logical_devices": logical_devices, "precision": precision, "jit": jit}
        return func(*args, placement_flags=flags, **kwargs)

    return wrapper


def given(name: str) -> bool:
    """Whether the person typed the option (or set its variable), rather than taking its default."""
    source = click.get_current_context().get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def refuse_inapplicable(reasons: dict[str, str | None]) -> None:
    """Refuse an option the person typed that this run would silently ignore.

    `reasons` maps a parameter name to why it does not apply to the chosen run, or to None where it
    does; options left at their defaults are never refused.
    """
    ctx = click.get_current_context()
    for name, reason in reasons.items():
        if reason and given(name):
            flag = next(p.opts[0] for p in ctx.command.params if p.name == name)
            raise UserInputError(f"{flag} {reason}")
