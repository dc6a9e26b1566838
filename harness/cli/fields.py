"""Click options made from the settings dataclasses, so that each default, type and help is declared once.

A field's default is the option's default and its annotation gives the type: `bool` is a flag,
`int | None` an optional number, `tuple[float, ...]` a comma-separated list, `Path` a path. Its
`metadata` may hold `help` and `choices`: a Registry (or a function returning names), read each time
the option is shown or parsed, so a choice registered after import is offered too.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from pathlib import Path

import click

from pipelines.registry import Registry


class LiveChoice(click.Choice):
    """A click.Choice whose names are read when used: `names` is a Registry or a function returning names."""

    def __init__(self, names):
        self._names = names.names if isinstance(names, Registry) else names
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, _ignored) -> None:  # click's __init__ assigns the (empty) tuple it was given
        pass


def comma_list(kind):
    """A click callback parsing "0.5,0.8,0.9" into a tuple of `kind`."""

    def parse(ctx, param, value):
        if value is None:
            return ()
        if isinstance(value, tuple):
            return value
        try:
            return tuple(kind(item) for item in value.split(",") if item.strip())
        except ValueError:
            raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None

    return parse


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def field_option(cls, name: str, *declarations: str, **overrides):
    """The option for field `name` of dataclass `cls`. `declarations` are click's (flags, and the
    parameter's name if it differs from the field's); `overrides` replace what the field says."""
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    hint = typing.get_type_hints(cls)[name]
    kind = next((a for a in typing.get_args(hint) if a is not type(None)), hint) \
        if type(None) in typing.get_args(hint) else hint
    default = _default(field)
    settings = {"help": field.metadata.get("help"), "default": default,
                "show_default": default is not None and default is not False and default != ()}
    if kind is bool:
        settings["is_flag"] = True
    elif typing.get_origin(kind) is tuple:
        settings["callback"] = comma_list(typing.get_args(kind)[0])
        settings["default"] = ",".join(map(str, default)) if default else None
    elif "choices" in field.metadata:
        settings["type"] = LiveChoice(field.metadata["choices"])
    elif kind is Path:
        settings["type"] = click.Path(path_type=Path)
    else:
        settings["type"] = kind
    settings.update(overrides)
    flags = declarations or (f"--{name.replace('_', '-')}",)
    if all(d.startswith("-") for d in flags):
        flags = (*flags, name)
    return click.option(*flags, **settings)


def options(*decorators):
    """Several options as one decorator, in the order given (as they appear in --help)."""

    def apply(func):
        return functools.reduce(lambda f, decorate: decorate(f), reversed(decorators), func)

    return apply
