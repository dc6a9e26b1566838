"""Which side bounds a training run: the model or the data pipeline, and the advice that follows.

Two measurements bracket a run. The *model ceiling* is the same compiled training step fed
in-memory synthetic tensors: what the model can consume. The *pipeline supply* is the same
pipeline drained alone, no model: what it can produce. The run itself gets at most the smaller of
the two; when it gets clearly less than both, the two competed for the same cores.

Both measurements are throughputs, so they judge a run on either Keras backend alike. The share of
step time spent waiting for data comes from the profile where the profile has one (TensorFlow's);
otherwise it is estimated from the throughputs (a JAX profile has none: see harness.profiler).
"""

from __future__ import annotations

from harness.timing import StepClock, drain, keras_step_callback
from pipelines.backend import DEFAULT as DEFAULT_BACKEND
from pipelines.data.online import PIPELINES, SHARDS
from pipelines.train.placement import DEVICES, PRECISIONS, larger_device

SHARED_CORES = 0.85  # a run below this share of min(ceiling, supply) lost time to contention
ALWAYS_COMPILED = ("jax",)  # backends that XLA-compile every step: --jit offers them nothing


def measure_model_ceiling(model, synthetic_dataset, steps: int, warmup: int, batch_size: int) -> float:
    """Images/s of `model` trained on in-memory tensors (its compiled step is reused, not retraced)."""
    clock = StepClock()
    model.fit(synthetic_dataset, epochs=1, steps_per_epoch=warmup + steps, shuffle=False, verbose=0,
              callbacks=[keras_step_callback(clock)])
    return clock.stats(warmup, batch_size).images_per_s


def measure_supply(dataset, steps: int, warmup: int, batch_size: int) -> float:
    """Images/s the pipeline delivers alone, no model."""
    return drain(dataset, warmup + steps).stats(warmup, batch_size).images_per_s


def model_bound_advice(device: str, backend: str = DEFAULT_BACKEND) -> str:
    """What buys speed when the model bounds the run: the next larger device, then lower precision
    and (where the backend does not compile every step already) XLA."""
    larger = larger_device(device)
    if DEVICES[device].gpus == 0:
        return f"more compute would: try {larger}" if larger else "more cores or nodes would"
    levers = [f"--precision {'/'.join(p for p in PRECISIONS if p != 'float32')}"]
    levers += [] if backend in ALWAYS_COMPILED else ["--jit"]
    levers = [f"more devices ({larger})" if larger else "more nodes", *levers]
    return f"{', '.join(levers[:-1])} or {levers[-1]} would"


def judge(run: float, ceiling: float, supply: float, device: str, pipeline: str,
          input_bound_pct: float | None = None, backend: str = DEFAULT_BACKEND) -> dict:
    """The bound, the share of step time spent waiting for data, and one line of advice.

    The wait share comes from the profile's input-pipeline analysis when there is one. Without a
    profile it is estimated only for an input-bound run: a step at the ceiling's pace plus a wait for
    data takes ceiling/run times as long, so the wait is 1 - run/ceiling of it. (When the model
    bounds the run, the gap to the ceiling is contention, not waiting, and is left unestimated.)
    """
    better = PIPELINES[pipeline].faster
    ahead = next(p.name for p in PIPELINES.entries() if p.value.reads == SHARDS)  # decodes ahead of time
    if supply < ceiling:
        bound = "input"
        wait = input_bound_pct if input_bound_pct is not None else max(0.0, 100 * (1 - run / ceiling))
        advice = (f"input-bound: {wait:.0f}% of step time waits for data; the pipeline alone supplies "
                  f"{supply / ceiling:.2f} of what the model takes; "
                  + (f"try {device}-{better}" if better else "add shard readers or faster storage"))
    elif run < SHARED_CORES * min(ceiling, supply):
        bound = "shared-cores"
        wait = input_bound_pct
        advice = (f"shared cores: alone, the model takes {ceiling:.0f} and the pipeline supplies {supply:.0f} "
                  f"images/s; together they get {run:.0f}, because decoding competes with training for the CPU; "
                  + (f"try {device}-{ahead} to decode ahead of time" if pipeline != ahead
                     else "give each worker more cores"))
    else:
        bound = "model"
        wait = input_bound_pct
        advice = (f"model-bound: the pipeline supplies {supply / ceiling:.1f}x what the model takes, so a faster "
                  f"pipeline buys nothing; {model_bound_advice(device, backend)}")
    return {"bound": bound, "advice": advice, "run_images_per_s": run, "model_ceiling_images_per_s": ceiling,
            "pipeline_supply_images_per_s": supply, "input_wait_pct": wait,
            "input_wait_source": None if wait is None else "profile" if input_bound_pct is not None else "throughputs",
            "of_model_ceiling": run / ceiling}
