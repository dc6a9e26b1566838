"""The monitor around every run: a background thread sampling GPU occupation and CPU use.

Two GPU figures are kept apart on purpose. NVML's *utilization* is the share of time in which any
kernel was running on the GPU: one tiny kernel at a time reads 100%. *SM occupancy* (NVML's GPM
metrics, Hopper and later) is the share of the SMs' warp slots that were resident: how full the GPU
was while it was busy. Where NVML or GPM is missing the record says so; nothing is invented.

The sampler measures its own cost: the CPU time its thread spent, over the CPU time the machine
offered during the run.
"""

from __future__ import annotations

import statistics
import threading
import time

import psutil


def _text(value) -> str:
    return value if isinstance(value, str) else value.decode()


class NvmlProbe:
    """Reads every GPU's utilization, memory in use and, where GPM exists, SM occupancy."""

    def __init__(self, pynvml) -> None:
        self.nvml = pynvml
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        self.names = [_text(pynvml.nvmlDeviceGetName(h)) for h in self.handles]
        self.gpm_samples = [self._first_gpm_sample(h) for h in self.handles]

    @classmethod
    def open(cls) -> tuple["NvmlProbe | None", str | None]:
        """The probe, or None and why there is none."""
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as error:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError...
            return None, f"NVML unavailable: {error}"
        probe = cls(pynvml)
        if not probe.handles:
            probe.close()
            return None, "NVML found no GPU"
        return probe, None

    def _first_gpm_sample(self, handle):
        """A GPM sample to diff the next one against, or None where the GPU has no GPM metrics."""
        nvml = self.nvml
        try:
            if not nvml.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice:
                return None
            return nvml.nvmlGpmSampleGet(handle, nvml.nvmlGpmSampleAlloc())
        except Exception:
            return None

    @property
    def has_sm_occupancy(self) -> list[bool]:
        return [sample is not None for sample in self.gpm_samples]

    def read(self) -> list[dict]:
        readings = []
        for index, handle in enumerate(self.handles):
            utilization = self.nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
            readings.append({"util_pct": float(utilization.gpu), "memory_used_bytes": int(memory.used),
                             "sm_occupancy_pct": self._sm_occupancy(index, handle)})
        return readings

    def _sm_occupancy(self, index: int, handle) -> float | None:
        """SM occupancy between the previous GPM sample and a new one; the new one becomes the previous."""
        previous = self.gpm_samples[index]
        if previous is None:
            return None
        nvml = self.nvml
        current = nvml.nvmlGpmSampleGet(handle, nvml.nvmlGpmSampleAlloc())
        request = nvml.c_nvmlGpmMetricsGet_t()
        request.version = nvml.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = 1
        request.sample1 = previous
        request.sample2 = current
        request.metrics[0].metricId = nvml.NVML_GPM_METRIC_SM_OCCUPANCY
        nvml.nvmlGpmMetricsGet(request)
        nvml.nvmlGpmSampleFree(previous)
        self.gpm_samples[index] = current
        metric = request.metrics[0]
        return float(metric.value) if metric.nvmlReturn == nvml.NVML_SUCCESS else None

    def close(self) -> None:
        for sample in self.gpm_samples:
            if sample is not None:
                self.nvml.nvmlGpmSampleFree(sample)
        self.nvml.nvmlShutdown()


class Sampler:
    """A context manager sampling every `interval_s` seconds in a daemon thread.

    Sample times are seconds since the sampler started (time.perf_counter based, like the step
    clocks); `mark_timed` records which part of the run was the timed steps, over which the means
    in the summary are taken.
    """

    def __init__(self, interval_s: float = 0.25, open_gpus=NvmlProbe.open) -> None:
        if interval_s <= 0:
            raise ValueError("the sampling interval must be positive")
        self.interval_s = interval_s
        self.open_gpus = open_gpus
        self.samples: list[tuple[float, list[float], list[dict]]] = []
        self.timed: tuple[float, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-sampler", daemon=True)
        self._thread_cpu_s = 0.0

    def __enter__(self) -> "Sampler":
        self.gpus, self.gpu_absent_reason = self.open_gpus()
        self.started = time.perf_counter()
        self._cpu_start = psutil.cpu_times()
        psutil.cpu_percent(percpu=True)  # primes the per-core counters the first sample diffs against
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.stopped = time.perf_counter()
        if self.gpus:
            self.gpus.close()

    def mark_timed(self, start: float, end: float) -> None:
        """The timed steps ran from `start` to `end` (time.perf_counter values)."""
        self.timed = (start - self.started, end - self.started)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append((time.perf_counter() - self.started, psutil.cpu_percent(percpu=True),
                                 self._read_gpus()))
        self._thread_cpu_s = time.thread_time()

    def _read_gpus(self) -> list[dict]:
        """This sample's GPU readings; if NVML fails mid-run, GPU sampling stops and the record says why."""
        if not self.gpus:
            return []
        try:
            return self.gpus.read()
        except Exception as error:
            self.gpu_absent_reason = f"NVML failed during the run: {error}"
            self.samples = [(t, cpu, []) for t, cpu, _ in self.samples]
            self.gpus.close()
            self.gpus = None
            return []

    def summary(self) -> dict:
        wall_s = self.stopped - self.started
        cores = psutil.cpu_count() or 1
        window = self.timed or (0.0, wall_s)
        inside = [s for s in self.samples if window[0] <= s[0] <= window[1]] or self.samples
        times = [round(t, 3) for t, _, _ in self.samples]
        per_core = [cpu for _, cpu, _ in self.samples]
        return {
            "interval_s": self.interval_s,
            "wall_s": wall_s,
            "timed_window_s": list(window),
            "t_s": times,
            "cpu": {
                "cores": cores,
                "per_core_pct": per_core,
                "mean_pct": _mean([statistics.fmean(cpu) for _, cpu, _ in inside]),
            },
            "gpu": self._gpu_summary(inside),
            "cost": {"sampler_cpu_s": self._thread_cpu_s,
                     "share_of_cpu": self._thread_cpu_s / (wall_s * cores) if wall_s > 0 else None},
        }

    def _gpu_summary(self, inside: list) -> dict:
        if not self.gpus:
            return {"available": False, "reason": self.gpu_absent_reason, "devices": []}
        devices = []
        for index, name in enumerate(self.gpus.names):
            series = {key: [gpus[index][key] for _, _, gpus in self.samples]
                      for key in ("util_pct", "memory_used_bytes", "sm_occupancy_pct")}
            timed = [gpus[index] for _, _, gpus in inside]
            occupancy = [g["sm_occupancy_pct"] for g in timed if g["sm_occupancy_pct"] is not None]
            devices.append({
                "index": index, "name": name, **series,
                "sm_occupancy_available": self.gpus.has_sm_occupancy[index],
                "mean_util_pct": _mean([g["util_pct"] for g in timed]),
                "mean_sm_occupancy_pct": _mean(occupancy),
            })
        return {"available": True, "reason": None, "devices": devices,
                "mean_util_pct": _mean([d["mean_util_pct"] for d in devices if d["mean_util_pct"] is not None]),
                "mean_sm_occupancy_pct": _mean([d["mean_sm_occupancy_pct"] for d in devices
                                                if d["mean_sm_occupancy_pct"] is not None])}


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None
