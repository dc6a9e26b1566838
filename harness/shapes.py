"""Checking a file read back against its shape (a TypedDict of harness.record), once, when it is read.

`problem(value, shape)` names the first place where the value differs from the shape ("timing.steps
is missing", "monitor.cpu.per_core_pct is a string, expected a list"): a record that passes
`record_problem` is read by the report, its rows, figures and charts, and `compare` without a
KeyError or TypeError. JSON numbers: `float` takes any number, `int` an integer; neither takes
true/false.

Tests: tests/test_report_inputs.py deletes, nulls and retypes every field of full records in turn
and requires each to be skipped naming that field or to be reported, so a field read without being
in the shape, or optional there but read without .get, fails there.
"""

from __future__ import annotations

import math
import types
import typing

from harness.record import POSITIVE, RunRecord


def record_problem(record: dict) -> str | None:
    """What keeps `record` (a run record of this schema) from being read, or None."""
    found = problem(record, RunRecord)
    if found is None and record["mode"] == "sweep" and record.get("sweep") is None:
        return "sweep is missing (a sweep run's makespan and workers)"
    return found


def problem(value, shape, where: str = "") -> str | None:
    """The first place where `value` does not have `shape` ("timing.steps is missing"), or None."""
    origin, arguments = typing.get_origin(shape), typing.get_args(shape)
    if shape is typing.Any:
        return None
    if origin is typing.Annotated:
        return _number_problem(value, where, positive=POSITIVE in arguments[1:])
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in arguments if a is not type(None)]
        return None if value is None and len(inner) < len(arguments) else problem(value, inner[0], where)
    if typing.is_typeddict(shape):
        return _object_problem(value, shape, where)
    if origin in (list, tuple):
        return _list_problem(value, shape, where)
    if shape is float:
        return _number_problem(value, where, positive=False)
    if not isinstance(value, shape) or (isinstance(value, bool) and shape is not bool):
        wanted = {int: "an integer", str: "a string", bool: "true or false"}[shape]
        return f"{where} is {_kind(value)}, expected {wanted}"
    return None


def _number_problem(value, where: str, positive: bool) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{where} is {_kind(value)}, expected {'a positive number' if positive else 'a number'}"
    if positive and not (math.isfinite(value) and value > 0):
        return f"{where} is {_kind(value)}, expected a positive number"
    return None


def _object_problem(value, shape, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where or 'the file'} is {_kind(value)}, expected an object"
    for key, inner in typing.get_type_hints(shape, include_extras=True).items():
        path = f"{where}.{key}" if where else key
        if key not in value:
            if key in shape.__required_keys__:
                return f"{path} is missing"
            continue
        found = problem(value[key], _without_not_required(inner), path)
        if found:
            return found
    return None


def _without_not_required(hint):
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.NotRequired else hint


def _list_problem(value, shape, where: str) -> str | None:
    if not isinstance(value, list):
        return f"{where} is {_kind(value)}, expected a list"
    arguments = typing.get_args(shape)
    if typing.get_origin(shape) is tuple and len(value) != len(arguments):
        return f"{where} has {len(value)} item(s), expected {len(arguments)}"
    items = arguments if typing.get_origin(shape) is tuple else arguments * len(value)
    for index, (item, inner) in enumerate(zip(value, items)):
        found = problem(item, inner, f"{where}[{index}]")
        if found:
            return found
    return None


def _kind(value) -> str:
    """A JSON value in a few words, for messages: "a list", "null", "0"."""
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float)):
        return repr(value).lower() if isinstance(value, bool) else f"{value!r}"[:40]
    return {str: "a string", list: "a list", dict: "an object"}[type(value)]
