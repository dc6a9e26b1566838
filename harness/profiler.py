"""Profiling a few training steps with TensorFlow's profiler and summarising them with xprof.

`profile_callback` records steps after warm-up into `logdir`; `summarize_profile` reads the
`*.xplane.pb` that leaves behind through xprof's converters (the ones TensorBoard's Profile tab uses)
and returns the figures a run record wants: how input-bound the steps were and the ops that took
the time. TensorFlow and xprof load lazily, as everywhere in the harness (see harness/quiet.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.quiet import is_verbose
from pipelines.errors import UserInputError
from pipelines.stderr import native_stderr_muted


def profile_callback(logdir: Path, first_step: int, steps: int):
    """A Keras callback that profiles `steps` training batches from batch `first_step` (0-based).

    Batches are counted across epochs, one per `on_train_batch_begin` (with steps_per_execution > 1
    each covers several batches). Each profiled batch is wrapped in a root step marker
    (`Trace(..., step_num=..., _r=1)`): Keras 3's fit loop emits none, and without one xprof's
    input pipeline analyzer finds no steps ("No step time measured"). The marker Keras' own
    TensorBoard callback sets lacks `_r=1` and is not recognised as a step either.
    """
    if first_step < 0 or steps < 1:
        raise ValueError(f"need first_step >= 0 and steps >= 1, got {first_step} and {steps}")
    import keras
    import tensorflow as tf

    class _ProfileSteps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._batch = 0
            self._running = False
            self._step = None

        def on_train_batch_begin(self, batch, logs=None):
            if self._batch == first_step:
                tf.profiler.experimental.start(str(logdir))
                self._running = True
            if self._running:
                self._step = tf.profiler.experimental.Trace("train", step_num=self._batch, _r=1)
                self._step.__enter__()

        def on_train_batch_end(self, batch, logs=None):
            if self._step is not None:
                self._step.__exit__(None, None, None)
                self._step = None
            self._batch += 1
            if self._running and self._batch >= first_step + steps:
                self._stop()

        def on_train_end(self, logs=None):
            if self._running:
                self._stop()

        def _stop(self):
            tf.profiler.experimental.stop()
            self._running = False

    return _ProfileSteps()


def summarize_profile(logdir: Path, top: int = 10) -> dict:
    """Input-bound share, the analyzer's verdict and the `top` ops by self time of the newest profile.

    xprof writes its intermediate `ALL_HOSTS.op_stats_v2.pb` next to the xplane file (whatever
    `use_saved_result` says), which also lets the second converter call reuse it.
    """
    xplanes = sorted(Path(logdir).rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    if not xplanes:
        raise UserInputError(f"{logdir}: no profile (*.xplane.pb) in this folder; profile a run into it first")
    xplane = xplanes[-1]
    steps_table = _table_with(_convert(xplane, "input_pipeline_analyzer"), "infeedTimeMs")
    # input_pipeline_analyzer: one row per step marker, the time of each part of a step in ms.
    step_rows = _rows(steps_table)
    step_ms = sum(row["stepTimeMs"] for row in step_rows)
    # framework_op_stats returns two tables with the same columns; the second leaves out IDLE, so
    # its *_total_self_time_percent columns are shares (0..1) of the time ops ran.
    ops = _rows(_convert(xplane, "framework_op_stats")[1])
    ops.sort(key=lambda row: row["total_self_time"], reverse=True)
    return {
        "xplane": str(xplane),
        # Input ("infeedTimeMs") over step time ("stepTimeMs"), summed over steps: the figure the
        # analyzer's "input_conclusion" states when it says "...% ... is waiting for input" (when
        # input matters little, it names another part's share instead).
        "input_bound_pct": round(100 * sum(row["infeedTimeMs"] for row in step_rows) / step_ms, 1)
        if step_ms else None,
        "input_verdict": steps_table.get("p", {}).get("input_conclusion", ""),
        "top_ops": [_op(row) for row in ops[:top]],
        "steps": len(step_rows),
    }


def _op(row: dict) -> dict:
    """One framework_op_stats row. On the CPU every op is on the "Host"; tf.data's iterator ops count
    their waits for the stages below them on other threads as self time, so in an input-bound
    profile several `Dataset` rows share the same wall time."""
    side = "host" if row["host_or_device"] == "Host" else "device"
    return {
        "name": row["operation"],
        "type": row["type"],
        "self_time_us": row["total_self_time"],
        "self_time_share": round(row[f"{side}_total_self_time_percent"], 4),
    }


def _convert(xplane: Path, tool: str) -> list[dict]:
    """One xprof tool's output: in 2.24.2 a JSON list of Google Charts DataTables, as bytes."""
    # xprof logs each conversion stage through absl at INFO to stderr unless TF_CPP_MIN_LOG_LEVEL
    # is set before it loads; mute it like TensorFlow's noise.
    with native_stderr_muted(active=not is_verbose()):
        from xprof.convert.raw_to_tool_data import xspace_to_tool_data

        data, _content_type = xspace_to_tool_data([str(xplane)], tool, {})
    if data is None:
        raise RuntimeError(f"xprof's {tool} could not read {xplane}")
    return json.loads(data)


def _table_with(tables: list[dict], column: str) -> dict:
    return next(table for table in tables if any(col.get("id") == column for col in table.get("cols", [])))


def _rows(table: dict) -> list[dict]:
    """A DataTable's rows as dicts keyed by column id."""
    ids = [col["id"] for col in table["cols"]]
    return [{name: cell.get("v") if cell else None for name, cell in zip(ids, row["c"])} for row in table["rows"]]
