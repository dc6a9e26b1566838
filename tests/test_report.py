import html

import pytest

from harness.report import human_duration, render, summarize, write_report
from pipelines.errors import UserInputError


def fake_record(variant, rate, device="cpu", workload="small", host="node-a", started=0.0, mode="train"):
    return {"mode": mode,
        "schema": "lth-harness/run-record/1", "run_id": f"run-{variant}-{started}", "started_at": started,
        "variant": variant, "summary": "", "device": device, "pipeline": variant.split("-")[-1],
        "workload": {"name": workload, "batch_size": 32},
        "timing": {"images_per_s": rate, "imagenet_epoch_s": 1_281_167 / rate, "step_p50_s": 32 / rate,
                   "step_p90_s": 40 / rate, "steps": 10},
        "machine": {"host": host, "cpu_model": "Test CPU", "usable_cores": 2,
                    "git": {"commit": "0123456789abcdef", "dirty": False}},
    }


def test_speedup_against_slowest_cpu_run_per_workload_and_host():
    records = [
        fake_record("cpu-naive", 100), fake_record("cpu-naive", 120, started=1),  # median 110
        fake_record("cpu-parallel", 220),
        fake_record("cpu-parallel", 50, host="node-b"),  # alone on its host: its own baseline
        fake_record("cpu-naive", 10, workload="smoke"),
        fake_record("data-naive", 400, mode="data"), fake_record("data-offline", 4000, mode="data"),
    ]
    rows = {(r.variant, r.workload, r.host): r for r in summarize(records)}
    assert rows[("cpu-naive", "small", "node-a")].runs == 2
    assert rows[("cpu-naive", "small", "node-a")].images_per_s == 110
    assert rows[("cpu-parallel", "small", "node-a")].speedup == pytest.approx(2.0)
    assert rows[("cpu-parallel", "small", "node-a")].baseline == "cpu-naive"
    assert rows[("cpu-parallel", "small", "node-b")].speedup == pytest.approx(1.0)
    assert rows[("cpu-naive", "smoke", "node-a")].speedup == pytest.approx(1.0)
    assert rows[("data-offline", "small", "node-a")].speedup == pytest.approx(10.0)  # data runs among themselves
    assert rows[("data-offline", "small", "node-a")].baseline == "data-naive"


def test_sweeps_compare_against_serial_with_efficiency_per_worker():
    serial = fake_record("sweep-serial", 100, mode="sweep")
    serial["sweep"] = {"workers": 1}
    pool = fake_record("sweep-mp", 180, mode="sweep")
    pool["sweep"] = {"workers": 2}
    rows = {r.variant: r for r in summarize([pool, serial])}
    assert rows["sweep-mp"].baseline == "sweep-serial"
    assert rows["sweep-mp"].speedup == pytest.approx(1.8) and rows["sweep-mp"].efficiency == pytest.approx(0.9)


def test_named_baseline_and_unknown_baseline():
    records = [fake_record("cpu-naive", 100), fake_record("cpu-parallel", 200)]
    rows = {r.variant: r for r in summarize(records, baseline="cpu-parallel")}
    assert rows["cpu-naive"].speedup == pytest.approx(0.5)
    with pytest.raises(UserInputError, match="baseline 'gpu4' has no runs.*cpu-naive, cpu-parallel"):
        summarize(records, baseline="gpu4")


def test_report_is_self_contained_and_escapes_record_strings(tmp_path):
    hostile = fake_record("cpu-naive", 100)
    hostile["machine"]["cpu_model"] = "<script>alert(1)</script>"
    hostile["variant"] = "cpu-<b>naive</b>"
    records = [hostile, fake_record("cpu-parallel", 300)]
    page = render(records)
    assert "<script>" not in page and html.escape("<script>alert(1)</script>") in page
    assert "cpu-&lt;b&gt;naive&lt;/b&gt;" in page
    assert "3.00x" in page and "cpu-parallel" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from the network
    written = write_report(records, tmp_path / "reports" / "r.html").read_text()
    assert written.startswith("<!DOCTYPE html>") and "3.00x" in written
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["r.html"]


def test_no_records_is_a_user_error():
    with pytest.raises(UserInputError, match="no run records"):
        render([])


@pytest.mark.parametrize("seconds, text", [(72000, "20.0 h"), (900, "15 min"), (12.34, "12.3 s")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text
