"""The lottery-ticket section of the report on summaries with replicates, retraining modes and a
stability analysis (and on one from before them), built by hand: nothing trains."""

import itertools
import json
import re
from pathlib import Path

import markupsafe
import pytest

from harness import lth_charts
from harness.report import render
from harness.results import read_results
from records import HOSTILE
from test_report import chart_specs

REWINDS = ((10, 1000), (2, 200), ("500it", 500))  # label, optimizer steps: listed out of order on purpose
MASKS = ((HOSTILE, 0.5), ("global-s0.8000", 0.8))  # a mask id the page must escape, in a matching ticket
DENSE_MEAN = {"n": 3, "top1_mean": 0.958, "top1_sd": 0.006}


def ticket_mean(mode, rewind, step, sparsity):
    """Mode, rewind point and sparsity as a distinct top-1 and sd: every line matches dense at 50%, none at 80%."""
    top1 = 0.99 - sparsity / 20 - step / 1e5 - lth_charts.MODES.index(mode) / 1000
    return top1, 0.001 + step / 1e5 + sparsity / 100


def replicated_summary(modes=("weight",), n=3, stability=True) -> dict:
    """A summary as `harness lth` writes it with replicates (n), retraining `modes` and --stability."""
    aggregate = []
    for (mask, sparsity), (rewind, step), mode in itertools.product(MASKS, REWINDS, modes):
        top1, sd = ticket_mean(mode, rewind, step, sparsity)
        aggregate.append({"mask_id": mask, "actual_sparsity": sparsity, "rewind": rewind, "rewind_step": step,
                          "mode": mode, "control": False, "n": n, "top1_mean": top1, "top1_sd": sd if n > 1 else 0.0,
                          "early_stop_step_mean": early_stop(sparsity, False), "early_stop_step_sd": 10.0})
    aggregate += [{"mask_id": mask, "actual_sparsity": sparsity, "rewind": None, "rewind_step": None, "mode": None,
                   "control": True, "n": n, "top1_mean": 0.5 - sparsity / 10, "top1_sd": 0.02 if n > 1 else 0.0,
                   "early_stop_step_mean": early_stop(sparsity, True), "early_stop_step_sd": 20.0}
                  for mask, sparsity in MASKS]
    dense = {**DENSE_MEAN, "n": n, "top1_sd": DENSE_MEAN["top1_sd"] if n > 1 else 0.0}
    for row in aggregate:
        row["matching"] = not row["control"] and row["top1_mean"] >= dense["top1_mean"] - dense["top1_sd"]
    matching = {}
    for row in sorted((r for r in aggregate if r["matching"]), key=lambda r: r["actual_sparsity"]):
        matching[(row["rewind"], row["mode"])] = {key: row[key] for key in (
            "rewind", "rewind_step", "mode", "mask_id", "actual_sparsity", "top1_mean")}
    tickets = [{"control": row["control"], "rewind": row["rewind"], "rewind_step": row["rewind_step"],
                "mode": row["mode"], "mask_id": row["mask_id"], "actual_sparsity": row["actual_sparsity"],
                "replicate": replicate, "top1": row["top1_mean"] + (replicate - 1) * row["top1_sd"]}
               for row in aggregate for replicate in range(n)]
    summary = {"dense": {"top1": 0.955, "epochs": 12}, "replicates": n, "dense_mean": dense, "tickets": tickets,
               "aggregate": aggregate, "matching": list(matching.values())}
    if stability:
        summary["stability"] = [
            {"network": network, "actual_sparsity": sparsity, "rewind": rewind, "rewind_step": step,
             "replicate": replicate, "barrier": barrier(sparsity, step) + replicate / 100}
            for network, sparsity in (("dense", 0.0), *MASKS) for rewind, step in REWINDS for replicate in range(n)]
        summary["stability_aggregate"] = [
            {"network": network, "actual_sparsity": sparsity, "rewind": rewind, "rewind_step": step, "n": n,
             "barrier_mean": barrier(sparsity, step) + (n - 1) / 200, "barrier_sd": 0.01 if n > 1 else 0.0}
            for network, sparsity in (("dense", 0.0), *MASKS) for rewind, step in REWINDS]
    return summary


def early_stop(sparsity, control):
    """Tickets learn faster the sparser they are (to a point), controls slower: Frankle & Carbin's figure 1."""
    return 1000 + (1000 if control else -500) * sparsity


def barrier(sparsity, step):
    """Sparser networks are less stable, later rewind points more: as Frankle et al. found."""
    return round(0.3 * sparsity + 0.1 - step / 1e4, 4)


def by_name(figure) -> dict[str, dict]:
    return {trace["name"]: trace for trace in figure["data"]}


def test_tickets_are_replicate_means_with_sd_error_bars_ordered_by_rewind_step_and_matching_ones_starred():
    summary = replicated_summary()
    figure = lth_charts.tickets(summary, "search")
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["rewind to epoch 2", "rewind to 500it", "rewind to epoch 10", "random init (control)",
                     "sparsest matching ticket"]  # by rewind step, not by name ("epoch 10" < "epoch 2")
    lines = by_name(figure)
    for (rewind, step), name in zip(sorted(REWINDS, key=lambda r: r[1]), names):
        means = [ticket_mean("weight", rewind, step, sparsity) for _, sparsity in MASKS]
        # the weights remaining, as a percentage, in order of x: 20% (sparsity 0.8), then 50%
        assert lines[name]["x"] == [20, 50] and lines[name]["y"] == [top1 for top1, _ in means][::-1]
        assert lines[name]["error_y"]["array"] == [sd for _, sd in means][::-1]
    axis = figure["layout"]["xaxis"]
    assert axis["type"] == "log" and axis["range"][0] > 2 > 1.3 > axis["range"][1] > 1  # 100% left, 20% inside
    assert lines["random init (control)"]["error_y"]["array"] == [0.02, 0.02]
    star = lines["sparsest matching ticket"]
    assert len(summary["matching"]) == 3 and star["marker"]["symbol"] == "star"
    in_order = sorted(summary["matching"], key=lambda m: m["rewind_step"])
    assert star["x"] == [100 * (1 - m["actual_sparsity"]) for m in in_order] == [50, 50, 50]
    assert star["y"] == [m["top1_mean"] for m in in_order]
    assert star["text"][0] == f"rewind to epoch 2: {HOSTILE}"  # escaped on the page as all chart JSON
    band, line = figure["layout"]["shapes"]
    assert (band["type"], band["y0"], band["y1"]) == ("rect", pytest.approx(0.952), pytest.approx(0.964))
    assert line["y0"] == line["y1"] == 0.958
    assert figure["layout"]["annotations"][0]["text"] == "dense 0.958 ± 0.006 (3 seeds)"


def test_one_sparsity_gets_an_axis_that_fits_it():
    summary = replicated_summary()
    summary["aggregate"] = [row for row in summary["aggregate"] if row["actual_sparsity"] == 0.8]
    left, right = lth_charts.tickets(summary, "search")["layout"]["xaxis"]["range"]
    low, high = 10 ** right, 10 ** left  # a reversed log axis: dense (100%) on the left
    assert 10 < low < 20 and 100 < high < 120  # around the one point at 20%, not 0 to 170% as a linear autorange


def test_the_early_stopping_iteration_is_drawn_against_the_weights_remaining_ticket_and_control():
    figure = lth_charts.early_stopping(replicated_summary(), "search")
    lines = by_name(figure)
    assert list(lines) == ["rewind to epoch 2", "rewind to 500it", "rewind to epoch 10", "random init (control)"]
    assert lines["rewind to epoch 2"]["y"] == [600, 750] and lines["random init (control)"]["y"] == [1800, 1500]
    assert lines["random init (control)"]["error_y"]["array"] == [20.0, 20.0]
    assert figure["layout"]["xaxis"]["type"] == "log"
    old = replicated_summary()
    for row in old["aggregate"]:
        del row["early_stop_step_mean"], row["early_stop_step_sd"]
    assert lth_charts.early_stopping(old, "search") is None  # a summary from before the curves


def test_one_replicate_draws_no_error_bars_and_no_band():
    figure = lth_charts.tickets(replicated_summary(n=1), "search")
    assert not any("error_y" in trace for trace in figure["data"])
    assert [shape["type"] for shape in figure["layout"]["shapes"]] == ["line"]
    assert figure["layout"]["annotations"][0]["text"] == "dense 0.958"


@pytest.mark.parametrize("row, name", [
    ({"control": False, "rewind": 2, "mode": "weight"}, "rewind to epoch 2"),
    ({"control": False, "rewind": 2}, "rewind to epoch 2"),  # written before retraining modes
    ({"control": False, "rewind": "500it", "mode": "weight"}, "rewind to 500it"),
    ({"control": False, "rewind": 2, "mode": "lr"}, "lr rewinding from epoch 2"),
    ({"control": False, "rewind": "500it", "mode": "lr"}, "lr rewinding from 500it"),
    ({"control": False, "rewind": 2, "mode": "finetune"}, "fine-tuning (budget of rewind 2)"),
    ({"control": True, "rewind": None, "mode": None}, "random init (control)"),
])
def test_line_names(row, name):
    assert lth_charts.line_name(row) == name


def test_retraining_modes_chart_has_a_line_per_mode_and_rewind_point_and_only_with_several_modes():
    assert lth_charts.retrain_modes(replicated_summary(), "search") is None
    assert lth_charts.retrain_modes({"dense": {"top1": 0.9, "epochs": 2}, "tickets": []}, "search") is None
    modes = ("weight", "lr", "finetune")
    figure = lth_charts.retrain_modes(replicated_summary(modes), "search")
    lines = by_name(figure)
    assert len(figure["data"]) == len(modes) * len(REWINDS) and "random init (control)" not in lines
    assert list(lines)[:3] == ["rewind to epoch 2", "lr rewinding from epoch 2", "fine-tuning (budget of rewind 2)"]
    lr = lines["lr rewinding from 500it"]
    assert lr["x"] == [0.5, 0.8] and lr["y"] == [ticket_mean("lr", "500it", 500, s)[0] for _, s in MASKS]
    assert lr["error_y"]["array"] == [ticket_mean("lr", "500it", 500, s)[1] for _, s in MASKS]
    colours = {name: trace["line"]["color"] for name, trace in lines.items()}
    assert colours["lr rewinding from epoch 2"] == colours["lr rewinding from epoch 10"] != colours["rewind to epoch 2"]
    assert lines["lr rewinding from epoch 2"]["line"]["dash"] != lines["lr rewinding from epoch 10"]["line"]["dash"]
    tickets = lth_charts.tickets(replicated_summary(modes), "search")  # the ticket chart has every line too
    assert len(tickets["data"]) == len(modes) * len(REWINDS) + 2


def test_stability_chart_plots_barriers_and_ticket_top1_against_the_rewind_point():
    assert lth_charts.stability(replicated_summary(stability=False), "search") is None
    summary = replicated_summary()
    figure = lth_charts.stability(summary, "search")
    left = [t for t in figure["data"] if "xaxis" not in t]
    right = [t for t in figure["data"] if t.get("xaxis") == "x2"]
    assert [t["name"] for t in left] == ["dense", HOSTILE, "global-s0.8000"]
    for trace in left:
        rows = sorted((r for r in summary["stability_aggregate"] if r["network"] == trace["name"]),
                      key=lambda r: r["rewind_step"])
        assert trace["x"] == [200, 500, 1000] == [r["rewind_step"] for r in rows]
        assert trace["y"] == [r["barrier_mean"] for r in rows]
        assert trace["error_y"]["array"] == [r["barrier_sd"] for r in rows] == [0.01] * 3
    assert [t["name"] for t in right] == [HOSTILE, "global-s0.8000"] and all(t["yaxis"] == "y2" for t in right)
    assert right[1]["y"] == [ticket_mean("weight", r, s, 0.8)[0] for r, s in sorted(REWINDS, key=lambda r: r[1])]
    assert not any(t["showlegend"] for t in right)  # the left panel's legend entry toggles both
    axis = figure["layout"]["xaxis2"]
    assert axis["tickvals"] == [200, 500, 1000] and axis["ticktext"] == ["epoch 2", "500it", "epoch 10"]
    assert figure["layout"]["xaxis"]["domain"][1] < axis["domain"][0] and figure["layout"]["yaxis2"]["anchor"] == "x2"
    del summary["stability_aggregate"]  # then the means and sds come from the rows
    from_rows = {t["name"]: t for t in lth_charts.stability(summary, "search")["data"] if "xaxis" not in t}
    assert from_rows["dense"]["y"] == pytest.approx(left[0]["y"])
    assert from_rows["dense"]["error_y"]["array"] == pytest.approx([0.01] * 3)


def test_an_old_summary_keeps_its_chart_and_gains_nothing(tmp_path):
    old = {"dense": {"top1": 0.885, "epochs": 4},
           "tickets": [{"control": False, "rewind": 1, "actual_sparsity": 0.5, "top1": 0.8},
                       {"control": False, "rewind": 0, "actual_sparsity": 0.8, "top1": 0.7},
                       {"control": True, "rewind": 0, "actual_sparsity": 0.5, "top1": 0.6}]}
    figure = lth_charts.tickets(old, "old")
    assert figure["data"] == [
        {"type": "scatter", "mode": "lines+markers", "name": "rewind to epoch 0", "x": [20.0], "y": [0.7], "line": {}},
        {"type": "scatter", "mode": "lines+markers", "name": "rewind to epoch 1", "x": [50.0], "y": [0.8], "line": {}},
        {"type": "scatter", "mode": "lines+markers", "name": "random init (control)", "x": [50.0], "y": [0.6],
         "line": {"dash": "dot"}}]
    assert [s["type"] for s in figure["layout"]["shapes"]] == ["line"]
    assert figure["layout"]["annotations"][0]["text"] == "dense 0.885"
    assert lth_charts.retrain_modes(old, "old") is None and lth_charts.stability(old, "old") is None
    assert lth_charts.matching(old) is None
    write_search(tmp_path / "lth-old", old)
    page = render([], searches=read_results(tmp_path).searches)
    section = page.split('<section id="lottery-tickets">')[1].split("</section>")[0]
    assert list(chart_specs(page)) == ["lth-1"]
    assert "after 4 epochs; 3 tickets.</p>" in section
    assert "matching" not in section and "replicate" not in section


def write_search(folder, summary):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"workload": "smoke", "epochs": 12}))
    (folder / "summary.json").write_text(json.dumps(summary))


def test_the_page_shows_every_lth_chart_and_the_matching_tickets_escaped(tmp_path):
    write_search(tmp_path / "lth-full", replicated_summary(("weight", "lr", "finetune")))
    write_search(tmp_path / "lth-unmatched", {**replicated_summary(stability=False), "matching": []})
    searches = read_results(tmp_path).searches
    assert [Path(s["path"]).name for s in searches] == ["lth-full", "lth-unmatched"]
    page = render([], searches=searches)
    specs = chart_specs(page)
    assert list(specs) == ["lth-1", "lth-early-stop-1", "lth-modes-1", "lth-stability-1", "lth-2", "lth-early-stop-2"]
    assert HOSTILE not in page
    first = page.split('<section id="lottery-tickets">')[1].split("lth-2")[0]
    assert "(replicate 0; mean of 3 replicate(s)\n0.958 &plusmn; 0.006); 60 tickets." in first
    table = first.split('<table class="matching">')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>\s*<td class=\"num\">([0-9.]+)</td>", table)
    mask = str(markupsafe.escape(HOSTILE))
    assert len(rows) == 9 and [name for name, *_ in rows[:4]] == [
        "rewind to epoch 2", "lr rewinding from epoch 2", "fine-tuning (budget of rewind 2)", "rewind to 500it"]
    assert {row[1:] for row in rows} == {(mask, "0.500")}  # every line matches at 50%, the escaped mask
    assert "No ticket matched the dense network." in page.split('id="lth-2"')[1]
