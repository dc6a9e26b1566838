"""Profiling a few training steps with the running Keras backend's profiler, summarised by xprof.

`profile_callback` records steps after warm-up into `logdir`: on TensorFlow through `tf.profiler`, on
JAX through `jax.profiler` (TensorFlow is imported only for the first). Both write the same layout,
`logdir/plugins/profile/<time>/<host>.xplane.pb`, which TensorBoard's profile plugin opens.
`summarize_profile` reads the newest such file through xprof's converters (the ones TensorBoard's
Profile tab uses) and returns the figures a run record wants.

What the converters make of each backend's trace (xprof 2.24.2; tests/test_profiler.py holds both):
- `input_pipeline_analyzer` finds both backends' step markers and times each step. Only TensorFlow's
  trace says which part of a step waited for input (tf.data's iterator ops); a JAX trace has no such
  ops, so the analyzer files a starved step's wait under host compute and reads 0% input. For JAX the
  summary therefore holds no input-bound figure and a note saying why, and the verdict estimates the
  wait from throughputs instead, as it does for a run without a profile.
- `framework_op_stats` lists TensorFlow's ops by self time. A JAX trace on the CPU holds no per-op
  times (XLA's CPU runtime records none), so the list is empty and a note says so; on a GPU it reads
  the device's kernels from either backend.
- `overview_page` gives the device's duty cycle and idle share on an accelerator; on a CPU-only
  trace those read 0 and are left out.
Without xprof installed (the trace itself needs only the backend), the summary says so and keeps
the files for TensorBoard elsewhere. xprof loads lazily, as everything heavy in the harness does.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.quiet import is_verbose
from pipelines.errors import UserInputError
from pipelines.stderr import native_stderr_muted

CPU_ONLY = "CPU_ONLY"  # overview_page's hardware type of a trace without an accelerator


class _TensorFlowTrace:
    """tf.profiler; its step marker needs `_r=1` to be a root step xprof counts (Keras' own lacks it)."""

    reads_input = True  # xprof's input analysis sees tf.data's iterator ops

    @staticmethod
    def start(logdir: str) -> None:
        import tensorflow as tf

        tf.profiler.experimental.start(logdir)

    @staticmethod
    def step(number: int):
        import tensorflow as tf

        return tf.profiler.experimental.Trace("train", step_num=number, _r=1)

    @staticmethod
    def stop() -> None:
        import tensorflow as tf

        tf.profiler.experimental.stop()


class _JaxTrace:
    """jax.profiler, with JAX's own step marker."""

    reads_input = False

    @staticmethod
    def start(logdir: str) -> None:
        import jax

        jax.profiler.start_trace(logdir)

    @staticmethod
    def step(number: int):
        import jax

        return jax.profiler.StepTraceAnnotation("train", step_num=number)

    @staticmethod
    def stop() -> None:
        import jax

        jax.profiler.stop_trace()


TRACES = {"tensorflow": _TensorFlowTrace, "jax": _JaxTrace}  # by Keras backend (pipelines.backend.BACKENDS)


def _trace(backend: str):
    if backend not in TRACES:
        raise UserInputError(f"--profile has no profiler for the {backend} backend: profile with "
                             f"{' or '.join(TRACES)}")
    return TRACES[backend]


def profile_callback(logdir: Path, first_step: int, steps: int):
    """A Keras callback that profiles `steps` training batches from batch `first_step` (0-based), with
    the profiler of the backend Keras runs on.

    Batches are counted across epochs, one per `on_train_batch_begin` (with steps_per_execution > 1
    each covers several batches). Each profiled batch is wrapped in a step marker: Keras 3's fit loop
    emits none, and without one xprof's input pipeline analyzer finds no steps ("No step time
    measured"). A marker spans the whole step on either backend: the batch is fetched inside the
    step, and `on_train_batch_end` is called after Keras has read the step's loss back, which waits
    for JAX's asynchronously dispatched computation. The profiler stops after the last profiled
    batch, or when training ends first.
    """
    if first_step < 0 or steps < 1:
        raise ValueError(f"need first_step >= 0 and steps >= 1, got {first_step} and {steps}")
    import keras

    trace = _trace(keras.backend.backend())

    class _ProfileSteps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._batch = 0
            self._running = False
            self._step = None

        def on_train_batch_begin(self, batch, logs=None):
            if self._batch == first_step:
                with native_stderr_muted(active=not is_verbose()):  # jaxlib's session imports TensorFlow if there
                    trace.start(str(logdir))
                self._running = True
            if self._running:
                self._step = trace.step(self._batch)
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
            trace.stop()
            self._running = False

    return _ProfileSteps()


def summarize_profile(logdir: Path, backend: str, top: int = 10) -> dict:
    """Steps, mean step time, input-bound share, top `top` ops by self time and the device's occupation
    of the newest profile in `logdir`, made on `backend`; `notes` says what a figure is missing and why.

    xprof writes its intermediate `ALL_HOSTS.op_stats_v2.pb` next to the xplane file (whatever
    `use_saved_result` says), which lets the later converter calls reuse it.
    """
    xplanes = sorted(Path(logdir).rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    if not xplanes:
        raise UserInputError(f"{logdir}: no profile (*.xplane.pb) in this folder; profile a run into it first")
    xplane = xplanes[-1]
    try:
        converted = {tool: _convert(xplane, tool)
                     for tool in ("input_pipeline_analyzer", "framework_op_stats", "overview_page")}
    except ModuleNotFoundError as missing:
        return {"xplane": str(xplane), "input_bound_pct": None, "top_ops": [], "device": None,
                "notes": [f"not summarised: {missing.name} is not installed here (xprof reads the trace); open "
                          "the files with TensorBoard's profile plugin where it is"]}
    steps_table = _table_with(converted["input_pipeline_analyzer"], "infeedTimeMs")
    # input_pipeline_analyzer: one row per step marker, the time of each part of a step in ms.
    step_rows = _rows(steps_table)
    step_ms = sum(row["stepTimeMs"] for row in step_rows)
    # framework_op_stats returns two tables with the same columns; the second leaves out IDLE, so
    # its *_total_self_time_percent columns are shares (0..1) of the time ops ran.
    ops = _rows(converted["framework_op_stats"][1])
    ops.sort(key=lambda row: row["total_self_time"], reverse=True)
    reads_input = _trace(backend).reads_input
    notes = []
    if not reads_input:
        notes.append(f"no input-bound share: xprof finds input waits by tf.data's ops, which a {backend} trace "
                     "has none of (it would read 0%); the verdict estimates the wait from throughputs")
    if not ops:
        notes.append("no per-op times: this trace records none (XLA on the CPU does not)")
    return {
        "xplane": str(xplane),
        "backend": backend,
        # Input ("infeedTimeMs") over step time ("stepTimeMs"), summed over steps: the figure the
        # analyzer's "input_conclusion" states when it says "...% ... is waiting for input" (when
        # input matters little, it names another part's share instead).
        "input_bound_pct": round(100 * sum(row["infeedTimeMs"] for row in step_rows) / step_ms, 1)
        if step_ms and reads_input else None,
        "input_verdict": steps_table.get("p", {}).get("input_conclusion", "") if reads_input else "",
        "top_ops": [_op(row) for row in ops[:top]],
        "steps": len(step_rows),
        "step_ms_mean": step_ms / len(step_rows) if step_rows else None,
        "device": _device(converted["overview_page"]),
        "notes": notes,
    }


def _device(overview: list[dict]) -> dict | None:
    """The accelerator's duty cycle and idle share (%), from overview_page; None for a CPU-only trace."""
    analysis = next(t.get("p", {}) for t in overview if "hardware_type" in t.get("p", {}))
    if analysis["hardware_type"] == CPU_ONLY:
        return None
    figures = next(t["p"] for t in overview if "device_duty_cycle_percent" in t.get("p", {}))
    return {"hardware": analysis["hardware_type"],
            "duty_cycle_pct": float(figures["device_duty_cycle_percent"].rstrip("%")),
            "idle_pct": float(figures["device_idle_time_percent"].rstrip("%"))}


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
