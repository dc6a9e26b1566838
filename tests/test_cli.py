"""The CLI through the installed console script, as a user runs it."""

import json
from pathlib import Path

import pytest

from pipelines.data.synth import SynthSpec, build


@pytest.mark.parametrize("command", [[], ["run"], ["variants"], ["report"], ["compare"], ["plan"], ["slurm", "render"],
                                     ["data"], ["data", "synth"]])
def test_every_command_has_help(harness_cli, command):
    result = harness_cli(*command, "--help")
    assert result.returncode == 0 and "Usage: harness" in result.stdout


def test_variants_lists_both_variants(harness_cli):
    result = harness_cli("variants", "--json")
    assert result.returncode == 0
    names = [v["name"] for v in json.loads(result.stdout.splitlines()[-1])["variants"]]
    assert {"cpu-naive", "cpu-parallel"} <= set(names)


def test_unknown_variant_exits_2_and_lists_known(harness_cli, tiny_data):
    result = harness_cli("run", "--variant", "gpu9", "--data", tiny_data)
    assert result.returncode == 2
    assert "unknown variant 'gpu9'" in result.stderr and "cpu-naive" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_data_folder_exits_2_naming_it(harness_cli, tmp_path):
    missing = tmp_path / "no-such-data"
    result = harness_cli("run", "--variant", "cpu-naive", "--data", missing)
    assert result.returncode == 2
    assert str(missing) in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_synth_count_exits_2(harness_cli, tmp_path):
    result = harness_cli("data", "synth", tmp_path / "d", "--classes", "0")
    assert result.returncode == 2 and "--classes must be at least 1" in result.stderr


def test_report_without_results_exits_2(harness_cli, tmp_path):
    result = harness_cli("report", tmp_path / "none", "--out", tmp_path / "r.html")
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.slow
def test_run_then_report_end_to_end(harness_cli, tiny_data, tmp_path):
    results = tmp_path / "results"
    summaries = {}
    for variant, flags in (("cpu-naive", ["--profile", "--profile-steps", "2"]), ("cpu-parallel", ["--no-verdict"])):
        ran = harness_cli("run", "--variant", variant, "--data", tiny_data, "--workload", "lenet-smoke",
                          "--steps", "2", "--warmup", "1", "--results", results, "--json", *flags)
        assert ran.returncode == 0, ran.stderr
        summary = summaries[variant] = json.loads(ran.stdout.splitlines()[-1])
        assert summary["variant"] == variant and summary["images_per_s"] > 0
        assert summary["gpu_util_pct"] is None and summary["cpu_pct"] > 0
        assert (summary["verdict"] in {"input", "shared-cores", "model"}) == (variant == "cpu-naive")
        assert "W0000" not in ran.stderr and "cuda" not in ran.stderr.lower()
    profiled = json.loads(Path(summaries["cpu-naive"]["record"]).read_text())["profile"]
    assert profiled["steps"] == 2 and profiled["top_ops"] and 0 <= profiled["input_bound_pct"] <= 100
    assert list(Path(profiled["logdir"]).rglob("*.xplane.pb"))  # TensorBoard's files stay for people to open
    assert summaries["cpu-naive"]["input_bound_source"] == "profile"
    out = tmp_path / "report.html"
    reported = harness_cli("report", results, "--out", out, "--json")
    assert reported.returncode == 0, reported.stderr
    rows = json.loads(reported.stdout.splitlines()[-1])["rows"]
    assert {r["variant"] for r in rows} == {"cpu-naive", "cpu-parallel"}
    assert all(r["baseline"] in {"cpu-naive", "cpu-parallel"} for r in rows)
    page = out.read_text()
    assert "cpu-parallel" in page and "Top ops by self time" in page
    compared = harness_cli("compare", summaries["cpu-naive"]["record"], summaries["cpu-parallel"]["record"], "--json")
    assert compared.returncode == 0, compared.stderr
    ratios = {row["figure"]: row["ratio"] for row in json.loads(compared.stdout.splitlines()[-1])["figures"]}
    assert ratios["images_per_s"] == pytest.approx(summaries["cpu-parallel"]["images_per_s"]
                                                   / summaries["cpu-naive"]["images_per_s"])
    text = harness_cli("compare", summaries["cpu-naive"]["record"], "nothing-like-this", "--results", results)
    assert text.returncode == 2 and "no run record match 'nothing-like-this'" in text.stderr


def test_offline_variant_on_an_image_folder_exits_2_with_the_fix(harness_cli, tiny_data):
    result = harness_cli("run", "--variant", "data-offline", "--data", tiny_data, "--workload", "smoke")
    assert result.returncode == 2 and "harness data preprocess" in result.stderr


def test_preprocess_then_offline_run_and_rerun(harness_cli, tiny_data, tmp_path):
    out = tmp_path / "shards"
    first = harness_cli("data", "preprocess", tiny_data, out, "--size", "32", "--engine", "local", "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.splitlines()[-1])
    assert summary["ran"] is True and summary["examples"] == {"train": 36, "val": 9}
    assert first.stderr.strip() == ""  # worker processes' TensorFlow noise is silenced
    again = harness_cli("data", "preprocess", tiny_data, out, "--size", "32", "--engine", "local")
    assert again.returncode == 0 and "already complete: nothing to do" in again.stdout
    ran = harness_cli("run", "--variant", "data-offline", "--data", out, "--workload", "smoke", "--steps", "2",
                      "--results", tmp_path / "results", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.splitlines()[-1])["fraction_of_ceiling"] > 0


def test_download_with_a_malformed_list_exits_2_naming_the_line(harness_cli, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("n01440764_1\thttp://127.0.0.1:9/a.jpg\nnot a line\n")
    result = harness_cli("data", "download", urls, tmp_path / "out", "--engine", "local")
    assert result.returncode == 2 and f"{urls}:2:" in result.stderr


def test_gpu_variant_without_gpus_exits_2_saying_how_many(harness_cli, tiny_data):
    result = harness_cli("run", "--variant", "gpu4-parallel", "--data", tiny_data, "--workload", "smoke")
    assert result.returncode == 2
    assert "needs 4 GPU(s) but this machine has 0" in result.stderr and "--logical-devices 4" in result.stderr


def test_mixed_precision_on_the_cpu_is_refused(harness_cli, tiny_data):
    result = harness_cli("run", "--variant", "cpu-parallel", "--data", tiny_data, "--precision", "mixed_float16")
    assert result.returncode == 2 and "apply to GPUs" in result.stderr


@pytest.mark.slow
def test_gpu4_runs_on_four_logical_devices_and_says_so(harness_cli, tmp_path):
    data = tmp_path / "data"  # a global batch of 4 x 8 needs more images than the tiny set has
    build(data, SynthSpec(classes=3, train_per_class=24, val_per_class=1, seed=7))
    result = harness_cli("run", "--variant", "gpu4-parallel", "--logical-devices", "4", "--data", data,
                         "--workload", "lenet-smoke", "--steps", "2", "--warmup", "1", "--results", tmp_path / "results",
                         "--no-verdict")
    assert result.returncode == 0, result.stderr
    record = json.loads(next((tmp_path / "results").glob("*.json")).read_text())
    assert "verdict" not in record
    placement = record["placement"]
    assert placement["replicas"] == 4 and placement["logical"] is True
    assert "logical CPU devices (not a GPU measurement)" in placement["label"]
    assert record["global_batch"] == 4 * 8 and record["timing"]["images"] == 2 * 32
    assert "logical CPU devices" in result.stdout
