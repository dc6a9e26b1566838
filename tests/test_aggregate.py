"""Means over replicates, matching tickets and the error barrier: the arithmetic the summary reports."""

import pytest

from pipelines.lth import aggregate
from pipelines.lth.stability import error_barrier


def row(mask, rewind, top1, replicate, mode="weight", control=False, sparsity=0.8):
    return {"mask_id": mask, "requested_sparsity": sparsity, "actual_sparsity": sparsity + 0.001 * replicate,
            "rewind": rewind, "rewind_step": None if rewind is None else int(str(rewind).rstrip("it")),
            "mode": None if control else mode, "control": control, "top1": top1, "top5": 1.0, "loss": 1.0 - top1}


def test_replicates_aggregate_to_mean_and_sample_sd_and_the_sparsest_matching_ticket_is_marked():
    dense = aggregate.dense_mean([{"top1": 0.90}, {"top1": 0.92}, {"top1": 0.94}])
    assert dense == {"n": 3, "top1_mean": pytest.approx(0.92), "top1_sd": pytest.approx(0.02)}
    tickets = [row("s0.8", 2, t, r) for r, t in enumerate((0.91, 0.90, 0.92))] + \
              [row("s0.9", 2, t, r, sparsity=0.9) for r, t in enumerate((0.89, 0.90, 0.91))] + \
              [row("s0.95", 2, t, r, sparsity=0.95) for r, t in enumerate((0.80, 0.85, 0.90))] + \
              [row("s0.9", 0, t, r, sparsity=0.9) for r, t in enumerate((0.50, 0.60, 0.70))] + \
              [row("s0.9", None, t, r, control=True, sparsity=0.9) for r, t in enumerate((0.95, 0.95, 0.95))]
    means = {(m["mask_id"], m["rewind"], m["control"]): m for m in aggregate.ticket_means(tickets, dense)}
    assert len(means) == 5 and all(m["n"] == 3 for m in means.values())
    s09 = means[("s0.9", 2, False)]
    assert s09["top1_mean"] == pytest.approx(0.90) and s09["top1_sd"] == pytest.approx(0.01)
    assert s09["actual_sparsity"] == pytest.approx(0.901) and s09["loss_mean"] == pytest.approx(0.10)
    assert s09["matching"] and means[("s0.8", 2, False)]["matching"]  # 0.90 >= 0.92 - 0.02
    assert not means[("s0.95", 2, False)]["matching"] and not means[("s0.9", 0, False)]["matching"]
    assert not means[("s0.9", None, True)]["matching"]  # a control is never a ticket
    found = aggregate.sparsest_matching(list(means.values()))
    assert found == [{"rewind": 2, "rewind_step": 2, "mode": "weight", "mask_id": "s0.9",
                      "actual_sparsity": pytest.approx(0.901), "top1_mean": pytest.approx(0.90)}]


def test_one_replicate_has_no_spread_and_matches_only_at_or_above_dense():
    dense = aggregate.dense_mean([{"top1": 0.9}])
    assert dense["top1_sd"] == 0.0
    means = aggregate.ticket_means([row("a", 1, 0.9, 0), row("b", 1, 0.899, 0, sparsity=0.9)], dense)
    assert [m["matching"] for m in means] == [True, False] and means[0]["top1_sd"] == 0.0


def test_error_barrier_is_the_worst_error_on_the_line_over_the_ends_mean():
    assert error_barrier([0.9] * 11) == 0.0
    assert error_barrier([0.9, 0.8, 0.5, 0.7, 0.8]) == pytest.approx(0.5 - 0.15)
    assert error_barrier([0.8, 0.85, 0.9]) == pytest.approx(0.05)  # Frankle et al.: over the ends' mean
    rows = [{"network": "dense", "actual_sparsity": 0.0, "rewind": 1, "rewind_step": 10, "barrier": b}
            for b in (0.1, 0.3)]
    assert aggregate.barrier_means(rows) == [{"network": "dense", "actual_sparsity": 0.0, "rewind": 1,
                                              "rewind_step": 10, "n": 2, "barrier_mean": pytest.approx(0.2),
                                              "barrier_sd": pytest.approx(0.1414, abs=1e-4)}]
