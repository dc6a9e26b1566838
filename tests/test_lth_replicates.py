"""`harness lth` with a rewind point in steps, two retraining modes, two replicates and stability
pairs, end to end through the console script (the arithmetic is tests/test_aggregate.py's; the
executors' own tests run jobs like these in pools and MPI ranks)."""

import json
import subprocess

import pytest

from conftest import HARNESS

pytestmark = pytest.mark.slow

GRID = ("--workload", "lenet-smoke", "--epochs", "2", "--rewind", "1it", "--sparsity", "0.5", "--scope", "layer",
        "--keep-dense", "classifier", "--sparsity-over", "rest", "--retrain", "weight,finetune", "--replicates", "2",
        "--stability")
MASK = "layer-s0.5000-keep-classifier-over-rest"


@pytest.fixture(scope="module")
def replicated(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("replicates") / "search"
    result = subprocess.run([str(HARNESS), "lth", "--data", str(tiny_data), *GRID, "--out", str(out), "--json"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout.splitlines()[-1])


def test_every_replicate_trains_its_own_dense_run_with_a_checkpoint_at_the_step(replicated):
    out, summary = replicated
    assert [(d["replicate"], d["seed"]) for d in summary["dense_replicates"]] == [(0, 0), (1, 1)]
    assert summary["replicates"] == 2 and summary["dense_mean"]["n"] == 2
    for folder, seed in ((out, 0), (out / "replicates" / "1", 1)):
        assert json.loads((folder / "run.json").read_text())["seed"] == seed
        assert (folder / "checkpoints" / "step-0000001.weights.h5").is_file()
        assert (folder / "masks" / f"{MASK}.npz").is_file()


def test_tickets_of_each_mode_and_replicate_retrain_what_the_rewind_point_leaves(replicated):
    _, summary = replicated
    rows = {row["job_id"]: row for row in summary["tickets"]}
    assert set(rows) == {f"{MASK}-rewind1it", f"{MASK}-finetune-rewind1it", f"{MASK}-rewind1it-rep1",
                         f"{MASK}-finetune-rewind1it-rep1"}
    for row in rows.values():  # 2 epochs of 4 steps: 7 steps after step 1
        assert row["rewind"] == "1it" and row["rewind_step"] == 1 and row["epochs_trained"] == 1.75
        assert row["seed"] == row["replicate"] and row["masked_nonzero"] == 0
        # the target over all prunable weights, as the actual sparsity is: half of those not kept dense
        assert row["requested_sparsity"] == pytest.approx(row["actual_sparsity"], abs=1e-4)
        assert row["requested_sparsity"] < 0.5
    means = {(m["mode"], m["rewind"]): m for m in summary["aggregate"]}
    assert set(means) == {("weight", "1it"), ("finetune", "1it")} and all(m["n"] == 2 for m in means.values())
    weight = [rows[f"{MASK}-rewind1it"]["top1"], rows[f"{MASK}-rewind1it-rep1"]["top1"]]
    assert means[("weight", "1it")]["top1_mean"] == pytest.approx(sum(weight) / 2)


def test_stability_pairs_walk_the_line_for_the_dense_network_and_the_mask(replicated):
    _, summary = replicated
    pairs = {(row["network"], row["replicate"]): row for row in summary["stability"]}
    assert set(pairs) == {("dense", 0), ("dense", 1), (MASK, 0), (MASK, 1)}
    for row in pairs.values():
        assert len(row["alphas"]) == len(row["top1"]) == 11 and row["alphas"][0] == 0 and row["alphas"][-1] == 1
        errors = [1 - t for t in row["top1"]]
        assert row["barrier"] == pytest.approx(max(errors) - (errors[0] + errors[-1]) / 2)
    assert pairs[("dense", 0)]["actual_sparsity"] == 0 and 0.45 < pairs[(MASK, 0)]["actual_sparsity"] < 0.5
    assert {(r["network"], r["n"]) for r in summary["stability_aggregate"]} == {("dense", 2), (MASK, 2)}
