import json
import math
import re
import statistics

import markupsafe
import numpy as np

import pytest

from harness.figures import compare
from harness.report import human_duration, render, script_json
from harness.results import Skipped, read_results, save_record
from harness.rows import summarize
from records import HOSTILE, JAX_PROFILE_NOTE, sample_records
from pipelines.errors import UserInputError


def fake_record(variant, rate, device="cpu", workload="small", host="node-a", started=0.0, mode="train"):
    return {"mode": mode,
        "schema": "lth-harness/run-record/1", "run_id": f"run-{variant}-{started}", "started_at": started,
        "variant": variant, "summary": "", "device": device, "pipeline": variant.split("-")[-1],
        "workload": {"name": workload, "batch_size": 32},
        "timing": {"images_per_s": rate, "imagenet_epoch_s": 1_281_167 / rate, "step_p50_s": 32 / rate,
                   "step_p90_s": 40 / rate, "steps": 10, "step_times_s": [32 / rate] * 10},
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
    serial["sweep"] = {"workers": 1, "makespan_s": 100.0}
    pool = fake_record("sweep-mp", 180, mode="sweep")
    pool["sweep"] = {"workers": 2, "makespan_s": 55.0}
    rows = {r.variant: r for r in summarize([pool, serial])}
    assert rows["sweep-mp"].baseline == "sweep-serial x1"
    assert rows["sweep-mp"].speedup == pytest.approx(1.8) and rows["sweep-mp"].efficiency == pytest.approx(0.9)


def test_named_baseline_and_unknown_baseline():
    records = [fake_record("cpu-naive", 100), fake_record("cpu-parallel", 200)]
    rows = {r.variant: r for r in summarize(records, baseline="cpu-parallel")}
    assert rows["cpu-naive"].speedup == pytest.approx(0.5)
    with pytest.raises(UserInputError, match="baseline 'gpu4' has no runs.*cpu-naive, cpu-parallel"):
        summarize(records, baseline="gpu4")


def chart_specs(page: str) -> dict[str, dict]:
    """The chart specifications on the page by target id, parsed as the page's own script parses them."""
    found = re.findall(r'<script type="application/json" class="chart-spec" data-target="([^"]+)">(.*?)</script>',
                       page, flags=re.S)
    return {target: json.loads(spec) for target, spec in found}


def test_report_sections_from_records_and_searches(tmp_path):
    search = tmp_path / "lth-small"
    search.mkdir()
    (search / "run.json").write_text(json.dumps({"workload": "small", "epochs": 4}))
    tickets = [{"control": control, "rewind": rewind, "actual_sparsity": sparsity, "top1": top1}
               for control, rewind, sparsity, top1 in [(False, 0, 0.8, 0.63), (False, 0, 0.5, 0.85),
                                                       (False, 1, 0.5, 0.88), (False, 1, 0.8, 0.89),
                                                       (True, 0, 0.5, 0.74), (True, 0, 0.8, 0.55)]]
    (search / "summary.json").write_text(json.dumps({"dense": {"top1": 0.885, "epochs": 4}, "tickets": tickets}))
    searches = read_results(tmp_path).searches
    page = render(sample_records(), searches=searches)
    specs = chart_specs(page)
    story = specs["story-1"]
    assert [bar["name"] for bar in story["data"]] == ["this harness (small, extrapolated)",
                                                      "reference (published, measured on ImageNet)"]
    measured = story["data"][0]
    assert measured["x"] == ["one CPU", "one GPU", "four GPUs", "four GPUs, fast pipeline"]
    assert measured["y"][2:] == [None, None] and measured["text"][2:] == ["no run", "no run"]
    slowest_cpu = statistics.median([99.1, 103.4])  # the starved CPU bar is the slowest CPU pipeline
    assert measured["y"][0] == pytest.approx(1_281_167 / slowest_cpu / 3600, rel=0.01)
    assert story["data"][1]["y"] == [20.0, 3.5, 1.0, 0.25]
    data = specs["data-1"]["data"]
    assert data[0]["x"][:2] == ["data-naive", "data-parallel"] and data[1]["y"][0] == 580.0  # the decode ceiling
    sweep = {trace["name"]: trace for trace in specs["sweep-1"]["data"]}
    assert sweep["sweep-mp speedup"]["x"] == [2, 4]
    assert sweep["sweep-mp speedup"]["y"] == pytest.approx([72 / 40, 130 / 40], rel=0.01)
    assert sweep["sweep-mp efficiency"]["y"] == pytest.approx([72 / 40 / 2, 130 / 40 / 4], rel=0.01)
    lines = {trace["name"]: trace for trace in specs["lth-1"]["data"]}
    assert list(lines) == ["rewind to epoch 0", "rewind to epoch 1", "random init (control)"]
    assert lines["rewind to epoch 0"]["x"] == [20.0, 50.0] and lines["rewind to epoch 0"]["y"] == [0.63, 0.85]  # % kept
    timelines = [spec for target, spec in specs.items() if target.startswith("timeline-")]
    assert len(timelines) == len(sample_records())
    gpu_lines = [t["name"] for spec in timelines for t in spec["data"] if t["name"].startswith("GPU")]
    assert gpu_lines == ["GPU 0 utilization", "GPU 0 SM occupancy"] * 2  # only the two GPU runs have them
    for column in ("backend", "GPU util", "SM occupancy", "CPU use", "input-bound", "verdict", "speedup"):
        assert f">{column}</th>" in page
    assert "Top ops by self time" in page and "shared-cores" in page
    log_axes = [spec["layout"]["yaxis"] for spec in specs.values() if spec["layout"]["yaxis"].get("type") == "log"]
    assert len(log_axes) == 2 and all(axis["dtick"] == 1 for axis in log_axes)  # decades only, not minor ticks


def test_every_record_string_is_escaped_and_nothing_is_fetched():
    page = render(sample_records())
    assert HOSTILE not in page and "escaped-failure" in page
    assert str(markupsafe.escape(HOSTILE)) in page  # in text: entity-escaped
    assert json.dumps(HOSTILE)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e") in page  # in chart JSON
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="?https?:', page)  # plotly.js is inlined
    assert "Plotly.newPlot" in page and "plotly.js v" in page


def test_skipped_files_are_listed_on_the_page_escaped():
    page = render(sample_records(), skipped=[Skipped(f"results/{HOSTILE}.json", f"not JSON {HOSTILE}")])
    listed = page.split('<section id="skipped">')[1].split("</section>")[0]
    assert "1 file(s) skipped, listed below" in page and "Skipped files" in listed
    assert HOSTILE not in page and listed.count(str(markupsafe.escape(HOSTILE))) == 2
    assert '<section id="skipped">' not in render(sample_records())  # no list when nothing was skipped


def test_script_json_cannot_close_its_block_and_drops_non_finite_numbers():
    text = str(script_json({"name": "</script><!--", "values": [1.5, math.nan, math.inf]}))
    assert "<" not in text and ">" not in text
    assert json.loads(text) == {"name": "</script><!--", "values": [1.5, None, None]}


def test_compare_gives_each_figure_with_its_ratio_and_direction():
    records = sample_records()
    naive, parallel = records[0], records[2]
    rows = {row["figure"]: row for row in compare(naive, parallel)}
    assert rows["images_per_s"]["ratio"] == pytest.approx(151.0 / 99.1, rel=0.01)
    assert rows["images_per_s"]["improved"] is True
    assert rows["step_p50_s"]["ratio"] < 1 and rows["step_p50_s"]["improved"] is True
    assert rows["pipeline_supply_images_per_s"]["ratio"] == pytest.approx(640 / 105)
    assert "gpu_util_pct" not in rows  # neither CPU run measured a GPU: no invented figure


def test_each_backend_is_a_row_of_its_own_named_in_the_overview_and_the_run():
    records = sample_records()
    rows = {(r.variant, r.backend): r for r in summarize(records)}
    tf_run, jax_run = rows[("gpu1-parallel", "tensorflow")], rows[("gpu1-parallel", "jax")]
    assert (tf_run.series, jax_run.series) == ("gpu1-parallel", "gpu1-parallel on jax")  # charts name the backend
    assert jax_run.baseline == tf_run.baseline == "cpu-naive"  # training speedups cross backends
    assert jax_run.speedup / tf_run.speedup == pytest.approx(1400 / 820)
    assert rows[("data-naive", None)].backend is None  # a pipeline alone trains no model
    legacy = records[0]
    del legacy["backend"]  # recorded before the backend was a choice: it trained on TensorFlow
    assert {r.backend for r in summarize([legacy])} == {"tensorflow"}
    page = render(records)
    overview = page.split('<table id="overview">')[1].split("</table>")[0]
    assert re.search(r"<td>gpu1-parallel</td>.*\n\s*<td>gpu1</td>\s*<td>jax</td>", overview)  # its column
    assert overview.count("<td>jax</td>") == 1
    jax_details = page.split("gpu1-parallel on small: 1400.0 images/s")[1].split("</details>")[0]
    assert "Backend: jax." in jax_details and JAX_PROFILE_NOTE in jax_details
    assert "Top ops by self time" not in jax_details  # the JAX profile listed none: no empty table


def test_compare_names_both_backends_and_the_backend_speedup(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from harness.cli import cli
    from harness.cli.output import stdout

    monkeypatch.setattr(stdout, "width", 200)  # rich fixes a console's width when it is made (COLUMNS then)
    records = sample_records()
    tf_run, jax_run = records[3], records[-1]
    for record in (tf_run, jax_run):
        save_record(tmp_path, record)
    arguments = ["compare", tf_run["run_id"], jax_run["run_id"], "--results", str(tmp_path)]
    result = CliRunner().invoke(cli, arguments)
    as_json = CliRunner().invoke(cli, [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    assert "gpu1-parallel on tensorflow" in result.output and "gpu1-parallel on jax" in result.output
    assert "backend speedup, jax over tensorflow: 1.71x images/s" in result.output
    assert json.loads(as_json.output.splitlines()[-1])["backends"] == {"a": "tensorflow", "b": "jax"}


def test_no_records_is_a_user_error():
    with pytest.raises(UserInputError, match="no run records"):
        render([])


@pytest.mark.parametrize("seconds, text", [(72000, "20.0 h"), (900, "15 min"), (12.34, "12.3 s")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_each_search_shows_the_sparsity_of_its_masks_by_kind_and_layer_old_reports_included(tmp_path):
    from pipelines.lth.masks import MaskSpec, compute_masks, sparsity_report

    search = tmp_path / "lth-erk"
    (search / "masks").mkdir(parents=True)
    (search / "run.json").write_text(json.dumps({"workload": "smoke", "epochs": 2}))
    tickets = [{"control": False, "rewind": 0, "actual_sparsity": 0.9, "top1": 0.5}]
    (search / "summary.json").write_text(json.dumps({"dense": {"top1": 0.8, "epochs": 2}, "tickets": tickets}))
    rng = np.random.default_rng(0)
    weights = {"Conv1/kernel": rng.normal(size=(3, 3, 3, 8)), "block_2_depthwise/kernel": rng.normal(size=(3, 3, 8, 1)),
               "block_10_project/kernel": rng.normal(size=(1, 1, 8, 16)), "predictions/kernel": rng.normal(size=(16, 4))}
    kinds = dict(zip(weights, ("stem", "depthwise", "pointwise", "classifier")))
    spec = MaskSpec("erk", 0.5, keep_dense=("depthwise",))
    (search / "masks" / f"{spec.mask_id}.json").write_text(
        json.dumps({"mask_id": spec.mask_id, **sparsity_report(compute_masks(weights, kinds, spec), kinds, spec)}))
    old = {"weights": 100, "pruned": 50, "sparsity": 0.5, "collapsed_layers": [],  # written before kinds were recorded
           "per_layer": {"Conv1/kernel": 0.25, "block_10_project/kernel": 0.5, HOSTILE: 0.75}}
    # 480 weights: the stem 216, the depthwise kernel 72 (15%), the pointwise 128, the classifier 64.
    (search / "masks" / "global-s0.5000.json").write_text(json.dumps(old))
    (search / "masks" / "layer-s0.5000.json").write_text("{")
    page = render([], searches=read_results(tmp_path).searches)
    section = page.split('<section id="lottery-tickets">')[1].split("</section>")[0]
    assert HOSTILE not in page
    masks = section.split('<table class="masks">')[1].split("</table>")[0]
    assert re.search(r"<td>erk-s0.5000-keep-depthwise-over-all</td><td>erk</td>\s*<td>depthwise</td>\s*<td>all</td>"
                     r"\s*<td class=\"num\">0.500</td><td class=\"num\">0.500</td>", masks)
    assert re.search(r"<td>global-s0.5000</td><td>&ndash;</td>\s*<td>&ndash;</td>", masks)  # the old report
    kinds = section.split('<table class="mask-kinds">')[1].split("</table>")[0]
    assert re.findall(r"<tr><td>(\w+)</td>", kinds) == ["stem", "depthwise", "pointwise", "classifier"]
    assert re.search(r"<td>depthwise</td><td class=\"num\">15.0%</td>\s*<td class=\"num\">0.000</td>"
                     r"<td class=\"num\">&ndash;</td>", kinds)  # kept dense; the old report has no per-kind figure
    layers = section.split('<details class="mask-layers">')[1].split("</details>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\w+)</td>", layers)
    assert rows[:4] == [("Conv1/kernel", "stem"), ("block_2_depthwise/kernel", "depthwise"),
                        ("block_10_project/kernel", "pointwise"), ("predictions/kernel", "classifier")]
    assert re.search(r"<td>block_10_project/kernel</td><td>pointwise</td>\s*<td class=\"num\">[0-9.]+</td>"
                     r"<td class=\"num\">0.500</td>", layers)  # the old report's layers, known from the new one
    assert rows[-1][0] != HOSTILE and re.search(r"</td><td>&ndash;</td>\s*<td class=\"num\">&ndash;</td>"
                                                r"<td class=\"num\">0.750</td>", layers)  # only the old report's: no kind
    assert "Mask reports left out (unreadable): layer-s0.5000.json (not JSON" in section
