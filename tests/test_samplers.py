"""The monitor: real psutil and, on this machine, the real absence of NVML; a scripted NVML for the GPU path.

No GPU is attached here, so the NVML path runs the real NvmlProbe against pynvml's own module with
its C calls replaced by a scripted two-GPU device (the first with GPM, like a Hopper; the second without).
"""

import time

import psutil
import pynvml
import pytest

from harness.samplers import NvmlProbe, Sampler


def run_sampler(seconds: float, **kwargs) -> Sampler:
    with Sampler(interval_s=0.02, **kwargs) as sampler:
        start = time.perf_counter()
        time.sleep(seconds)
        sampler.mark_timed(start + seconds / 2, time.perf_counter())
    return sampler


def test_without_nvml_the_record_says_so_and_cpu_is_sampled_per_core():
    summary = run_sampler(0.3).summary()
    assert summary["gpu"] == {"available": False, "reason": summary["gpu"]["reason"], "devices": []}
    assert "NVML" in summary["gpu"]["reason"]
    assert len(summary["t_s"]) >= 5 and summary["t_s"] == sorted(summary["t_s"])
    assert all(len(sample) == psutil.cpu_count() for sample in summary["cpu"]["per_core_pct"])
    assert 0 <= summary["cpu"]["mean_pct"] <= 100
    start, end = summary["timed_window_s"]
    assert 0 < start < end <= summary["wall_s"]
    assert 0 <= summary["cost"]["share_of_cpu"] < 0.5


class ScriptedNvml:
    """Two GPUs: utilization counts up by 10 per reading; GPU 0 offers GPM, its occupancy counts up by 1."""

    def __init__(self, monkeypatch, fail_after: int | None = None):
        self.readings = 0
        self.occupancy = 0.0
        self.allocated = self.freed = 0
        self.fail_after = fail_after
        self.shut_down = False
        for name in ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
                     "nvmlDeviceGetName", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo",
                     "nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleGet", "nvmlGpmSampleFree",
                     "nvmlGpmMetricsGet"):
            monkeypatch.setattr(pynvml, name, getattr(self, name))

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shut_down = True

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3" if handle == 0 else "NVIDIA A100"

    def nvmlDeviceGetUtilizationRates(self, handle):
        if handle == 0:
            self.readings += 1
        if self.fail_after is not None and self.readings > self.fail_after:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return type("Utilization", (), {"gpu": 10 * self.readings % 101, "memory": 0})()

    def nvmlDeviceGetMemoryInfo(self, handle):
        return type("Memory", (), {"used": 1 << 30, "total": 80 << 30})()

    def nvmlGpmQueryDeviceSupport(self, handle):
        return type("Support", (), {"isSupportedDevice": int(handle == 0)})()

    def nvmlGpmSampleAlloc(self):
        self.allocated += 1
        return pynvml.c_nvmlGpmSample_t()

    def nvmlGpmSampleGet(self, handle, sample):
        return sample

    def nvmlGpmSampleFree(self, sample):
        self.freed += 1

    def nvmlGpmMetricsGet(self, request):
        assert request.metrics[0].metricId == pynvml.NVML_GPM_METRIC_SM_OCCUPANCY
        assert request.version == pynvml.NVML_GPM_METRICS_GET_VERSION and request.numMetrics == 1
        self.occupancy += 1
        request.metrics[0].value = self.occupancy
        request.metrics[0].nvmlReturn = pynvml.NVML_SUCCESS
        return request


def test_with_nvml_utilization_and_sm_occupancy_are_kept_apart(monkeypatch):
    nvml = ScriptedNvml(monkeypatch)
    summary = run_sampler(0.3).summary()
    gpu = summary["gpu"]
    assert gpu["available"] and [d["name"] for d in gpu["devices"]] == ["NVIDIA H100 80GB HBM3", "NVIDIA A100"]
    hopper, ampere = gpu["devices"]
    samples = len(summary["t_s"])
    assert samples >= 5 and len(hopper["util_pct"]) == samples == len(ampere["memory_used_bytes"])
    assert hopper["util_pct"][:3] == [10.0, 20.0, 30.0]
    assert hopper["sm_occupancy_available"] and hopper["sm_occupancy_pct"][:3] == [1.0, 2.0, 3.0]
    assert not ampere["sm_occupancy_available"] and set(ampere["sm_occupancy_pct"]) == {None}
    assert ampere["mean_sm_occupancy_pct"] is None
    # means cover the timed window only: the second half of the samples
    start, end = summary["timed_window_s"]
    timed = [o for t, o in zip(summary["t_s"], hopper["sm_occupancy_pct"]) if start <= t <= end]
    assert hopper["mean_sm_occupancy_pct"] == pytest.approx(sum(timed) / len(timed))
    assert hopper["mean_sm_occupancy_pct"] > sum(hopper["sm_occupancy_pct"]) / samples
    assert gpu["mean_sm_occupancy_pct"] == hopper["mean_sm_occupancy_pct"]
    assert nvml.shut_down and nvml.allocated == nvml.freed  # every GPM sample is released


def test_nvml_failing_mid_run_stops_gpu_sampling_and_says_why(monkeypatch):
    nvml = ScriptedNvml(monkeypatch, fail_after=3)
    summary = run_sampler(0.3).summary()
    assert summary["gpu"]["available"] is False and "failed during the run" in summary["gpu"]["reason"]
    assert len(summary["t_s"]) >= 5 and nvml.shut_down and nvml.allocated == nvml.freed


def test_nvml_without_gpus_is_no_gpu(monkeypatch):
    ScriptedNvml(monkeypatch)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 0)
    probe, reason = NvmlProbe.open()
    assert probe is None and reason == "NVML found no GPU"
