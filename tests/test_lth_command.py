"""`harness lth` end to end through the console script: dense run, masks, tickets, rerun, refusals."""

import json
import shutil

import pytest

pytestmark = pytest.mark.slow

ARGS = ("--workload", "lenet-smoke", "--epochs", "2", "--rewind", "0,1")


@pytest.fixture(scope="module")
def search(lth_search, tmp_path_factory):
    """A copy of the shared search (conftest.lth_search), which these tests run again:
    a layer-wise 50% mask, rewinds 0 and 1, a control."""
    out, summary, stderr = lth_search
    copy = tmp_path_factory.mktemp("lth-command") / "search"
    shutil.copytree(out, copy)
    return copy, summary, stderr


def test_json_holds_dense_accuracy_and_one_row_per_ticket(search):
    _, summary, _ = search
    assert 0 <= summary["dense"]["top1"] <= summary["dense"]["top5"] <= 1 and summary["dense"]["epochs"] == 2
    rows = {row["job_id"]: row for row in summary["tickets"]}
    assert set(rows) == {"layer-s0.5000-rewind0", "layer-s0.5000-rewind1", "layer-s0.5000-control"}
    assert [rows[j]["epochs_trained"] for j in sorted(rows)] == [2, 2, 1]  # control, rewind0, rewind1
    assert rows["layer-s0.5000-control"]["control"] is True and rows["layer-s0.5000-control"]["rewind"] is None
    for row in rows.values():
        assert row["requested_sparsity"] == 0.5 and abs(row["actual_sparsity"] - 0.5) < 0.01
        assert row["masked_nonzero"] == 0 and 0 <= row["top1"] <= row["top5"] <= 1
    assert summary["failed"] == [] and summary["placement"]["device"] == "cpu"


def test_output_folder_keeps_checkpoints_masks_and_job_results(search):
    out, _, stderr = search
    assert sorted(p.name for p in (out / "checkpoints").glob("*.json")) == ["epoch-000.json", "epoch-001.json",
                                                                           "final.json"]
    report = json.loads((out / "masks" / "layer-s0.5000.json").read_text())
    assert report["collapsed_layers"] == [] and all(abs(s - 0.5) < 0.05 for s in report["per_layer"].values())
    assert len(list((out / "jobs").glob("*.json"))) == 3
    assert json.loads((out / "summary.json").read_text())["tickets"]
    assert "dense: epoch 2/2" in stderr


def test_rerun_skips_everything_finished(search, harness_cli, tiny_data):
    out, summary, _ = search
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").iterdir()}
    again = harness_cli("lth", "--data", tiny_data, *ARGS, "--sparsity", "0.5", "--scope", "layer",
                        "--control", "random", "--out", out, "--json")
    assert again.returncode == 0, again.stderr
    assert "dense: already trained" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out / "jobs").iterdir()} == stamps
    assert json.loads(again.stdout.splitlines()[-1])["tickets"] == summary["tickets"]


def test_collapsing_global_mask_is_refused_before_any_ticket(search, harness_cli, tiny_data):
    out, _, _ = search
    result = harness_cli("lth", "--data", tiny_data, *ARGS, "--threshold", "5", "--out", out)  # above every |w|
    assert result.returncode == 2
    assert "prunes 3 layer(s) entirely" in result.stderr and "--allow-collapse" in result.stderr
    assert not (out / "jobs" / "global-t5-rewind0.json").exists()


def test_other_settings_in_the_same_folder_are_refused(search, harness_cli, tiny_data):
    out, _, _ = search
    result = harness_cli("lth", "--data", tiny_data, "--workload", "smoke", "--epochs", "3", "--rewind", "0",
                         "--sparsity", "0.5", "--out", out)
    assert result.returncode == 2 and "other settings" in result.stderr



def test_prepare_only_stops_before_tickets_and_a_shard_needs_a_prepared_folder(search, harness_cli, tiny_data,
                                                                                tmp_path):
    out, _, _ = search
    prepared = harness_cli("lth", "--data", tiny_data, *ARGS, "--sparsity", "0.5", "--scope", "layer",
                           "--control", "random", "--out", out, "--prepare-only", "--json")
    assert prepared.returncode == 0, prepared.stderr
    assert json.loads(prepared.stdout.splitlines()[-1])["prepared"] is True
    assert "tickets:" not in prepared.stderr  # no ticket was even planned
    empty = tmp_path / "unprepared"
    refused = harness_cli("lth", "--data", tiny_data, *ARGS, "--out", empty, "--shard", "0/2")
    assert refused.returncode == 2 and "--prepare-only first" in refused.stderr
    assert not (empty / "checkpoints").exists()  # a shard never trains the dense network
