"""The training recipe's options (`--lr`, `--lr-schedule`, ...), shared by `harness lth` and `harness run`.

Each defaults to the workload's recipe (pipelines.train.workloads), so only what the person typed
overrides it. The learning-rate options carry an `lr-` prefix where a bare name is already taken
(`harness lth --schedule` is the pruning schedule, `harness run --warmup` the untimed steps).
"""

from __future__ import annotations

import dataclasses
import functools

from harness.cli.fields import field_option, options
from harness.cli.options import given
from pipelines.train.recipes import Recipe

FLAGS = {"optimizer": "--optimizer", "learning_rate": "--lr", "warmup": "--lr-warmup", "schedule": "--lr-schedule",
         "milestones": "--milestones", "gamma": "--gamma", "weight_decay": "--weight-decay",
         "label_smoothing": "--label-smoothing", "batch_size": "--batch"}


def _parameter(field: str) -> str:
    return f"recipe_{field}"


PARAMETERS = {field: _parameter(field) for field in FLAGS}  # field -> the click parameter's name


def recipe_options(func):
    """The recipe's fields as options, passed on as `recipe_overrides`: {field: value} of those typed."""

    helps = {f.name: f.metadata.get("help") for f in dataclasses.fields(Recipe)}

    @options(*(field_option(Recipe, field, flag, _parameter(field), default=None, show_default=False,
                            help=f"{helps[field]} Default: the workload's.") for field, flag in FLAGS.items()))
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        values = {field: kwargs.pop(name) for field, name in PARAMETERS.items()}
        overrides = {field: value for field, value in values.items() if given(PARAMETERS[field])}
        return func(*args, recipe_overrides=overrides, **kwargs)

    return wrapper
