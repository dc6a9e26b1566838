"""The shapes of the files the report and `harness compare` read, checked once when a file is read.

A shape lists every field that the report, its rows, figures and charts, and `compare` read from a
run record (or an LTH search's summary.json and run.json), with its type: a record that passes
`record_problem` is read by all of them without a KeyError or TypeError. Fields nobody reads here
are not checked. A field wrapped in `Maybe` may be absent or null, and the code reads it with .get;
every other field is required.

Shapes are plain values: a type (`float` means any JSON number, `int` an integer; neither takes
true/false), a dict (an object with those fields), a one-item list (a list of that shape), a tuple
(a list of exactly that many items), `Maybe(shape)`, `Positive` (a finite number above 0) or `ANY`
(any JSON value: chart series handed to plotly as they are).

Tests: tests/test_report_inputs.py deletes, nulls and retypes every field of full records in turn
and requires each to be skipped naming that field or to be reported, so a field read without being
listed here, or listed as `Maybe` but read without .get, fails there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Maybe:
    shape: object


class Positive:
    """A finite number above zero: throughputs are divided by and sorted."""


ANY = object()

MONITOR = {
    "t_s": [float],
    "timed_window_s": (float, float),
    "cpu": {"per_core_pct": [[float]], "mean_pct": Maybe(float)},
    "gpu": {"available": bool, "reason": Maybe(str), "mean_util_pct": Maybe(float),
            "mean_sm_occupancy_pct": Maybe(float),
            "devices": [{"index": int, "util_pct": [ANY], "sm_occupancy_available": bool,
                         "sm_occupancy_pct": [ANY]}]},
    "cost": {"share_of_cpu": Maybe(float)},
}

VERDICT = {"bound": str, "advice": str, "run_images_per_s": float, "model_ceiling_images_per_s": float,
           "pipeline_supply_images_per_s": float, "input_wait_pct": Maybe(float), "input_wait_source": Maybe(str)}

PROFILE = {"steps": int, "logdir": str, "input_bound_pct": Maybe(float),
           "top_ops": [{"name": str, "type": str, "self_time_us": float, "self_time_share": float}]}

RUN_RECORD = {
    "run_id": str, "started_at": float, "variant": str, "summary": str, "mode": str, "device": str, "pipeline": str,
    "workload": {"name": str, "batch_size": int},
    "timing": {"images_per_s": Positive, "imagenet_epoch_s": float, "step_p50_s": float, "step_p90_s": float,
               "steps": int, "step_times_s": [float]},
    "machine": {"host": str, "cpu_model": str, "usable_cores": int,
                "git": {"commit": Maybe(str), "dirty": Maybe(bool)}},
    "masking": Maybe(str),
    "placement": Maybe({"label": str, "logical": bool}),
    "monitor": Maybe(MONITOR),
    "verdict": Maybe(VERDICT),
    "profile": Maybe(PROFILE),
    "decode_ceiling": Maybe({"images_per_s": Maybe(float)}),
    "fraction_of_ceiling": Maybe(float),
    "sweep": Maybe({"workers": int, "makespan_s": float}),  # required in mode "sweep"
}

SEARCH_SUMMARY = {
    "dense": {"top1": float, "epochs": int},
    "tickets": [{"control": bool, "rewind": Maybe(int), "actual_sparsity": float, "top1": float}],
}
SEARCH_CONFIG = {}  # run.json: any object (its workload and epochs are only printed, in the chart title)


def record_problem(record: dict) -> str | None:
    """What keeps `record` (a run record of this schema) from being read, or None."""
    found = problem(record, RUN_RECORD)
    if found is None and record["mode"] == "sweep" and record.get("sweep") is None:
        return "sweep is missing (a sweep run's makespan and workers)"
    return found


def problem(value, shape, where: str = "") -> str | None:
    """The first place where `value` does not have `shape` ("timing.steps is missing"), or None."""
    if shape is ANY:
        return None
    if isinstance(shape, Maybe):
        return None if value is None else problem(value, shape.shape, where)
    if isinstance(shape, dict):
        return _object_problem(value, shape, where)
    if isinstance(shape, (list, tuple)):
        return _list_problem(value, shape, where)
    if not _fits(value, shape):
        wanted = {float: "a number", int: "an integer", str: "a string", bool: "true or false",
                  Positive: "a positive number"}[shape]
        return f"{where} is {_kind(value)}, expected {wanted}"
    return None


def _object_problem(value, shape: dict, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where or 'the file'} is {_kind(value)}, expected an object"
    for key, inner in shape.items():
        path = f"{where}.{key}" if where else key
        if key not in value:
            if isinstance(inner, Maybe):
                continue
            return f"{path} is missing"
        found = problem(value[key], inner, path)
        if found:
            return found
    return None


def _list_problem(value, shape: list | tuple, where: str) -> str | None:
    if not isinstance(value, list):
        return f"{where} is {_kind(value)}, expected a list"
    if isinstance(shape, tuple) and len(value) != len(shape):
        return f"{where} has {len(value)} item(s), expected {len(shape)}"
    items = shape if isinstance(shape, tuple) else [shape[0]] * len(value)
    for index, (item, inner) in enumerate(zip(value, items)):
        found = problem(item, inner, f"{where}[{index}]")
        if found:
            return found
    return None


def _fits(value, shape) -> bool:
    if isinstance(value, bool):
        return shape is bool
    if shape is float:
        return isinstance(value, (int, float))
    if shape is Positive:
        return isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    return isinstance(value, shape)


def _kind(value) -> str:
    """A JSON value in a few words, for messages: "a list", "null", "0"."""
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float)):
        return repr(value).lower() if isinstance(value, bool) else f"{value!r}"[:40]
    return {str: "a string", list: "a list", dict: "an object"}[type(value)]
