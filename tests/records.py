"""Run records shaped like those harness.runner writes, for report tests that need no real runs.

Every string a record carries into the page holds HOSTILE: if the report failed to escape it, the
browser would run it and log "escaped-failure" as a console error.
"""

from __future__ import annotations

import math

from harness.results import SCHEMA
from harness.timing import StepStats
from harness.variants import get_variant
from pipelines.backend import DEFAULT as DEFAULT_BACKEND
from pipelines.train.workloads import get_workload

HOSTILE = '</script><script>console.error("escaped-failure")</script>'
HOST = "node-a"
JAX_PROFILE_NOTE = "no input-bound share in a JAX trace"
STARTED = 1_795_600_000.0


def _machine(cpu_model: str = "Test CPU 16-core") -> dict:
    return {"host": HOST, "cpu_model": cpu_model, "logical_cores": 16, "physical_cores": 8, "usable_cores": 16,
            "memory_bytes": 64 * 2**30, "gpus": [], "python": "3.11.7",
            "libraries": {"tensorflow": "2.19.1", "keras": "3.10.0", "jax": "0.6.2", "jaxlib": "0.6.2",
                          "numpy": "1.26.4"},
            "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False}}


def _steps(mean_s: float, count: int = 30) -> list[float]:
    """Step times with some spread around `mean_s`, the same every call."""
    return [mean_s * (1 + 0.15 * math.sin(i * 1.7) + (0.4 if i % 11 == 5 else 0)) for i in range(count)]


def _monitor(seconds: float, cores: int = 4, busy_pct: float = 80.0, gpu: bool = False) -> dict:
    t = [round(i * 0.25, 3) for i in range(int(seconds / 0.25) + 1)]
    per_core = [[max(0.0, min(100.0, busy_pct + 15 * math.sin(i / 3 + c))) for c in range(cores)]
                for i in range(len(t))]
    window = [t[len(t) // 5], t[-1]]
    if gpu:
        util = [min(100.0, 60 + 35 * math.sin(i / 4) ** 2) for i in range(len(t))]
        occupancy = [u * 0.3 for u in util]
        device = {"index": 0, "name": "Test GPU", "util_pct": util, "memory_used_bytes": [2**33] * len(t),
                  "sm_occupancy_pct": occupancy, "sm_occupancy_available": True,
                  "mean_util_pct": sum(util) / len(util), "mean_sm_occupancy_pct": sum(occupancy) / len(occupancy)}
        gpus = {"available": True, "reason": None, "devices": [device], "mean_util_pct": device["mean_util_pct"],
                "mean_sm_occupancy_pct": device["mean_sm_occupancy_pct"]}
    else:
        gpus = {"available": False, "reason": "NVML found no GPU", "devices": []}
    return {"interval_s": 0.25, "wall_s": t[-1], "timed_window_s": window, "t_s": t,
            "cpu": {"cores": cores, "per_core_pct": per_core, "mean_pct": busy_pct},
            "gpu": gpus, "cost": {"sampler_cpu_s": 0.02, "share_of_cpu": 0.0004}}


def _record(variant_name: str, images_per_s: float, started: float, *, variant: str | None = None,
            steps: int = 30, backend: str = DEFAULT_BACKEND, **extra) -> dict:
    spec = get_variant(variant_name)
    workload = get_workload("small")
    batch = workload.batch_size * (4 if spec.device == "gpu4" else 1)
    step_s = batch / images_per_s
    stats = StepStats.of(batch * steps, step_s * steps, _steps(step_s, steps))
    record = {
        "schema": SCHEMA,
        "run_id": f"20261125T{int(started) % 240000:06d}-{variant or variant_name}-abc123",
        "started_at": STARTED + started,
        "variant": variant or variant_name,
        "summary": f"{spec.summary} {HOSTILE}",
        "mode": spec.mode,
        "backend": backend if spec.backends else None,
        "device": spec.device,
        "pipeline": spec.pipeline,
        "workload": workload.as_dict(),
        "data": {"path": "/data/imagenet-sample", "train_images": 1000, "classes": 10, "kind": "image folder"},
        "seed": 0,
        "timing": stats.as_dict(),
        "warmup_steps": 5,
        "monitor": _monitor(stats.seconds * 1.25, gpu=spec.device.startswith("gpu")),
        **extra,
        "machine": _machine(),
    }
    return record


def _placement(device: str, backend: str, logical: bool = False) -> dict:
    label = f"{device} on logical CPU devices (not a GPU measurement)" if logical else device
    return {"backend": backend, "device": device, "replicas": 4 if device == "gpu4" else 1,
            "devices": [f"/{device}:0"], "logical": logical, "precision": "float32", "jit": False, "threads": None,
            "label": label}


def _verdict(run: float, ceiling: float, supply: float, bound: str, advice: str) -> dict:
    return {"bound": bound, "advice": advice, "run_images_per_s": run, "model_ceiling_images_per_s": ceiling,
            "pipeline_supply_images_per_s": supply, "input_wait_pct": max(0.0, 100 * (1 - run / ceiling)),
            "input_wait_source": "throughputs", "of_ceiling": run / ceiling, "steps": 30}


def _train(variant_name: str, rate: float, started: float, ceiling: float, supply: float, bound: str,
           advice: str, backend: str = DEFAULT_BACKEND, **extra) -> dict:
    spec = get_variant(variant_name)
    return _record(variant_name, rate, started, backend=backend, placement=_placement(spec.device, backend),
                   global_batch=32, masking=None, verdict=_verdict(rate, ceiling, supply, bound, advice), **extra)


def _data(variant_name: str, rate: float, started: float, ceiling: float = 580.0, **kwargs) -> dict:
    decode_ceiling = {"cores": 16, "decoder": "tf.io.decode_image + antialiased bilinear resize",
                      "images_per_s": ceiling, "sample_images": 192, "single_core_images_per_s": ceiling / 16}
    return _record(variant_name, rate, started, decode_ceiling=decode_ceiling, fraction_of_ceiling=rate / ceiling,
                   **kwargs)


def _sweep(executor: str, workers: int, rate: float, started: float) -> dict:
    record = _record(f"sweep-{executor}", rate, started, steps=6)
    makespan = record["timing"]["seconds"]
    record["sweep"] = {"executor": executor, "workers": workers, "jobs": 6, "makespan_s": makespan,
                       "jobs_per_hour": 6 * 3600 / makespan,
                       "job_seconds": {f"job-{i}": t for i, t in enumerate(record["timing"]["step_times_s"])},
                       "hosts_and_pids": [[HOST, 1000 + i] for i in range(workers)], "tickets": []}
    return record


def sample_records() -> list[dict]:
    """CPU and GPU training runs on TensorFlow (one profiled), pipeline-alone runs against the decode
    ceiling, sweeps, and last a GPU run on JAX with a JAX profile (no input share, a note saying why)."""
    profile = {"logdir": "/tmp/profiles/run", "steps": 5, "xplane": "/tmp/profiles/run/host.xplane.pb",
               "backend": "tensorflow", "input_bound_pct": 62.5,
               "input_verdict": f"Your program is HIGHLY input-bound {HOSTILE}", "step_ms_mean": 322.5,
               "device": {"hardware": f"GPU {HOSTILE}", "duty_cycle_pct": 41.0, "idle_pct": 59.0}, "notes": [],
               "top_ops": [{"name": f"Conv2D {HOSTILE}", "type": "Conv2D", "self_time_us": 81234.0,
                            "self_time_share": 0.412},
                           {"name": "DepthwiseConv2dNative", "type": "DepthwiseConv2dNative",
                            "self_time_us": 40210.0, "self_time_share": 0.204}]}
    jax_profile = {"logdir": "/tmp/profiles/jax-run", "steps": 5, "xplane": "/tmp/profiles/jax-run/host.xplane.pb",
                   "backend": "jax", "input_bound_pct": None, "input_verdict": "", "step_ms_mean": 40.1,
                   "device": None, "top_ops": [], "notes": [f"{JAX_PROFILE_NOTE} {HOSTILE}"]}
    naive = _train("cpu-naive", 99.1, 0, 180.0, 105.0, "input",
                   f"input-bound: 45% of step time waits for data; try cpu-parallel {HOSTILE}")
    naive["machine"] = _machine(cpu_model=f"Test CPU {HOSTILE}")
    return [
        naive,
        _train("cpu-naive", 103.4, 60, 181.0, 108.0, "input", "input-bound: try cpu-parallel", profile=profile),
        _train("cpu-parallel", 151.0, 120, 182.0, 640.0, "shared-cores",
               "shared cores: decoding competes with training for the CPU; try cpu-offline"),
        _train("gpu1-parallel", 820.0, 180, 2400.0, 900.0, "input", "input-bound: try gpu1-vectorized"),
        _data("data-naive", 110.0, 240),
        _data("data-parallel", 525.3, 300),
        _data("data-parallel", 540.0, 360, variant=f"data-parallel {HOSTILE}"),
        _sweep("serial", 1, 40.0, 420),
        _sweep("mp", 2, 72.0, 480),
        _sweep("mp", 4, 130.0, 540),
        _train("gpu1-parallel", 1400.0, 600, 2400.0, 1500.0, "shared-cores", "shared cores: try gpu1-offline",
               backend="jax", profile=jax_profile),
    ]
