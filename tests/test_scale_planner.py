"""The scale planner: schedules worked by hand, a fit that recovers a known model, and the command."""

import json

import pytest

from harness.planner import JobModel, fit_record, makespan, plan, ticket_epochs
from pipelines.errors import UserInputError

MODEL = JobModel(overhead_s=1.0, epoch_s=1.0, startup_s=10.0, tail_s=2.0, source="test")


def test_tickets_retrain_the_epochs_after_their_rewind_in_plan_order():
    assert ticket_epochs(2, (0, 1), 3) == [3, 2, 3, 2]
    with pytest.raises(UserInputError, match="rewind epoch must be below --epochs 2"):
        ticket_epochs(1, (0, 2), 2)


def test_static_dynamic_and_array_schedules():
    tickets = [4.0, 3.0, 4.0, 3.0]  # two masks x rewinds 0, 1
    # static: worker 0 gets tickets 0 and 2 (8 s), worker 1 tickets 1 and 3 (6 s)
    assert makespan("static", tickets, 2, MODEL) == 10 + 8 + 2
    # dynamic, longest first: 4 -> w0, 4 -> w1, 3 -> w0 (busy to 7), 3 -> w1 (busy to 7)
    assert makespan("dynamic", tickets, 2, MODEL) == 10 + 7 + 2
    # in plan order the long ticket would come last: 1, 1 | 1 -> w0 (2), 3 -> w1 (4); longest first: 3 | 1, 1, 1
    assert makespan("dynamic", [1.0, 1.0, 1.0, 3.0], 2, JobModel(0, 0, 0, 0, "none")) == 3
    # array: every ticket pays the start-up: 14 -> a, 13 -> b, 14 -> b (27), 13 -> a (27)
    assert makespan("array", tickets, 2, MODEL) == 27 + 2
    # more workers than tickets: the longest ticket bounds every schedule
    assert makespan("dynamic", tickets, 8, MODEL) == 10 + 4 + 2 == makespan("static", tickets, 8, MODEL)


def test_plan_reports_gpu_hours_and_idle_share():
    result = plan(nodes=1, gpus_per_node=2, thresholds=2, rewinds=(0, 1), epochs=3, model=MODEL)
    assert result["workers"] == 2 and result["tickets"] == 4 and result["best"] == "dynamic"
    dynamic = result["strategies"]["dynamic"]
    assert dynamic["makespan_s"] == 19 and dynamic["gpu_hours"] == pytest.approx(2 * 19 / 3600)
    assert dynamic["idle_share"] == pytest.approx(1 - 14 / 38)  # 14 busy seconds of 2 x 19


def sweep_record(workers: int) -> dict:
    """A sweep whose tickets take exactly 3 + 5 x epochs seconds, workers starting after 20 s, tail 4 s."""
    spans, owners, free = {}, {}, [(20.0, w) for w in range(workers)]
    for i, epochs in enumerate([2, 1, 2, 1]):
        start, worker = min(free)
        end = start + 3 + 5 * epochs
        spans[f"job{i}"], owners[f"job{i}"] = [start, end, epochs], ["node", 100 + worker]
        free[free.index((start, worker))] = (end, worker)
    makespan_s = max(end for _, end, _ in spans.values()) + 4
    return {"run_id": "sweep-test", "sweep": {"executor": "mpi", "workers": workers, "makespan_s": makespan_s,
                                              "job_spans": spans, "job_workers": owners,
                                              "grid": {"epochs": 2}}}


@pytest.mark.parametrize("workers", [1, 2])
def test_fit_recovers_the_model_that_made_the_record(workers):
    model = fit_record(sweep_record(workers))
    assert model.overhead_s == pytest.approx(3) and model.epoch_s == pytest.approx(5)
    assert model.startup_s == pytest.approx(20) and model.tail_s == pytest.approx(4)


def test_fit_from_one_worker_predicts_two_workers():
    one, two = sweep_record(1), sweep_record(2)
    predicted = plan(1, 2, 2, (0, 1), 2, fit_record(one))["strategies"]["dynamic"]["makespan_s"]
    assert predicted == pytest.approx(two["sweep"]["makespan_s"])


def test_a_record_without_spans_is_refused():
    with pytest.raises(UserInputError, match="not a sweep record with job spans"):
        fit_record({"run_id": "x", "sweep": {"workers": 1}})


def test_plan_command(harness_cli, tmp_path):
    record = tmp_path / "sweep.json"
    record.write_text(json.dumps(sweep_record(1)))
    result = harness_cli("plan", "--nodes", "20", "--gpus-per-node", "4", "--thresholds", "20", "--rewinds", "5",
                         "--epochs", "10", "--from", record, "--epoch-seconds", "3600", "--json")
    assert result.returncode == 0, result.stderr
    planned = json.loads(result.stdout.splitlines()[-1])
    assert planned["workers"] == 80 and planned["tickets"] == 100 and planned["model"]["epoch_s"] == 3600
    assert planned["model"]["startup_s"] == pytest.approx(20) and "epoch_s given" in planned["model"]["source"]
    assert set(planned["strategies"]) == {"static", "dynamic", "array"}
    text = harness_cli("plan", "--nodes", "1", "--gpus-per-node", "1", "--thresholds", "1", "--rewinds", "1")
    assert text.returncode == 2 and "--from RECORD" in text.stderr
