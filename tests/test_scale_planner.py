"""The scale planner: schedules worked by hand, a fit that recovers a known model, and the command,
which refuses counts, figures and records it cannot plan with in one line."""

import json
import math
import resource
import subprocess
import tracemalloc

import pytest
from conftest import HARNESS

from harness.planner import JobModel, fit_record, load_model, makespan, plan, ticket_epochs
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
    model = fit_record(sweep_record(workers), "sweep.json")
    assert model.overhead_s == pytest.approx(3) and model.epoch_s == pytest.approx(5)
    assert model.startup_s == pytest.approx(20) and model.tail_s == pytest.approx(4)


def test_fit_from_one_worker_predicts_two_workers():
    one, two = sweep_record(1), sweep_record(2)
    predicted = plan(1, 2, 2, (0, 1), 2, fit_record(one, "one.json"))["strategies"]["dynamic"]["makespan_s"]
    assert predicted == pytest.approx(two["sweep"]["makespan_s"])


def test_a_record_without_spans_is_refused():
    with pytest.raises(UserInputError, match="not a sweep record with job spans"):
        fit_record({"run_id": "x", "sweep": {"workers": 1}}, "x.json")


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


# --- bounds: every count and figure is refused in one line where no sweep has it ---

@pytest.mark.parametrize("counts, option", [
    ((0, 1, 1, 1, 2), "--nodes"), ((-1, 1, 1, 1, 2), "--nodes"), ((10_001, 1, 1, 1, 2), "--nodes"),
    ((1, 0, 1, 1, 2), "--gpus-per-node"), ((1, -4, 1, 1, 2), "--gpus-per-node"), ((1, 1025, 1, 1, 2), "--gpus-per-node"),
    ((1, 1, 0, 1, 2), "--thresholds"), ((1, 1, -1, 1, 2), "--thresholds"), ((1, 1, 100_001, 1, 2), "--thresholds"),
    ((1, 1, 1, 0, 2), "--rewinds"), ((1, 1, 50_001, 2, 3), "--rewinds"),
    ((1, 1, 1, 1, 0), "--epochs"), ((1, 1, 1, 1, -3), "--epochs"), ((1, 1, 1, 1, 10_001), "--epochs"),
])
def test_counts_out_of_bounds_are_refused(counts, option):
    nodes, gpus, thresholds, rewinds, epochs = counts
    with pytest.raises(UserInputError, match=option) as refused:
        plan(nodes, gpus, thresholds, range(rewinds), epochs, MODEL)
    message = str(refused.value)
    assert "\n" not in message
    assert "must lie between 1 and" in message or "tickets: the planner takes at most 100,000" in message


@pytest.mark.parametrize("figure, option", [("epoch_s", "--epoch-seconds"), ("overhead_s", "--ticket-overhead-seconds"),
                                            ("startup_s", "--startup-seconds"), ("tail_s", "--tail-seconds")])
def test_figures_given_by_hand_must_be_finite_seconds(figure, option):
    for value in (-10.0, math.nan, math.inf, -math.inf, 1e300, *([0.0] if figure == "epoch_s" else [])):
        with pytest.raises(UserInputError, match=f"{option} must be a number of seconds"):
            load_model(None, "by hand", {"epoch_s": 5.0, figure: value})
    assert load_model(None, "by hand", {"epoch_s": 5.0, figure: 7.0}).__dict__[figure] == 7.0


def test_a_fitted_figure_no_sweep_has_is_refused_unless_given():
    record = sweep_record(1)
    spans = record["sweep"]["job_spans"]
    for job, (start, end, epochs) in spans.items():  # more epochs, less time: a negative epoch time
        spans[job] = [start, start + 30 - 5 * epochs, epochs]
    with pytest.raises(UserInputError, match=r"sweep.json: the fitted epoch_s is -5 s.*give --epoch-seconds"):
        load_model(record, "sweep.json", {})
    assert load_model(record, "sweep.json", {"epoch_s": 5.0}).epoch_s == 5.0
    stamped = sweep_record(1)  # spans as clock times, not seconds from launch: a start-up of 55 years
    stamped["sweep"]["job_spans"] = {job: [start + 1.7e9, end + 1.7e9, e]
                                     for job, (start, end, e) in stamped["sweep"]["job_spans"].items()}
    with pytest.raises(UserInputError, match="the fitted startup_s .* give --startup-seconds"):
        load_model(stamped, "sweep.json", {})


def test_the_largest_plan_is_worked_out_without_a_list_per_worker():
    tracemalloc.start()
    try:
        result = plan(10_000, 1_024, 20_000, range(5), 10, MODEL)  # 10 million workers, 100,000 tickets
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["tickets"] == 100_000 and result["strategies"]["static"]["makespan_s"] == 10 + 11 + 2
    assert peak < 48 << 20  # a list per worker would hold 10 million entries: 80 MB of pointers alone


def limited(*args: str) -> subprocess.CompletedProcess:
    """`harness plan ARGS` in at most 2 GiB of address space and 2 minutes, as a guard against the sizes it refuses."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run([str(HARNESS), "plan", *args], capture_output=True, text=True, timeout=120, preexec_fn=limit)


@pytest.mark.parametrize("args, option", [
    (["--thresholds", "1000000000"], "--thresholds"),
    (["--rewinds", "1000000000", "--epochs", "10000"], "--rewinds"),
    (["--nodes", "1000000000"], "--nodes"),
    (["--epoch-seconds", "-10"], "--epoch-seconds"),
    (["--epoch-seconds", "nan"], "--epoch-seconds"),
    (["--tail-seconds", "inf"], "--tail-seconds"),
    (["--startup-seconds", "-1"], "--startup-seconds"),
])
def test_plan_refuses_absurd_values_with_exit_2_and_one_line(args, option):
    defaults = {"--nodes": "1", "--gpus-per-node": "1", "--thresholds": "2", "--rewinds": "1", "--epochs": "4",
                "--epoch-seconds": "60"}
    given = dict(zip(args[::2], args[1::2]))
    result = limited(*[word for pair in {**defaults, **given}.items() for word in pair])
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(result.stderr.splitlines()) == 1 and option in result.stderr


# --- --from: anything but a sweep record is refused in one line naming the file and what to pass ---

def write_record(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return str(path)


def without(field: str) -> dict:
    record = sweep_record(1)
    del record["sweep"][field]
    return record


@pytest.mark.parametrize("make, says", [
    (lambda tmp: write_record(tmp, "photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\xff\xdb"), "is not a text file"),
    (lambda tmp: str(tmp), "is a folder"),
    (lambda tmp: str(tmp / "missing.json"), "does not exist"),
    (lambda tmp: write_record(tmp, "broken.json", b'{"sweep": '), "is not JSON"),
    (lambda tmp: write_record(tmp, "list.json", [1, 2]), "holds a JSON list, not a run record"),
    (lambda tmp: write_record(tmp, "run.json", {"run_id": "r1", "variant": "cpu-parallel"}),
     "is not a sweep record with job spans"),
    (lambda tmp: write_record(tmp, "nogrid.json", without("grid")), "names no dense epochs (sweep.grid.epochs): give --epochs"),
    (lambda tmp: write_record(tmp, "nomakespan.json", without("makespan_s")), "has no makespan_s"),
    (lambda tmp: write_record(tmp, "noworkers.json", without("job_workers")), "has no entry in job_workers"),
])
def test_plan_from_what_is_not_a_sweep_record_exits_2_naming_it(harness_cli, tmp_path, make, says):
    path = make(tmp_path)
    result = harness_cli("plan", "--nodes", "2", "--gpus-per-node", "4", "--thresholds", "3", "--rewinds", "2",
                         "--from", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and f"--from {path}" in result.stderr and says in result.stderr
    assert "give --epochs" in says or "pass a sweep run record" in result.stderr


def test_damaged_spans_are_refused_in_one_line():
    for span in ([1.0, 2.0], [5.0, 1.0, 1], ["a", 2.0, 1], [1.0, 2.0, 0], [1.0, math.nan, 1], None):
        record = sweep_record(1)
        record["sweep"]["job_spans"]["job0"] = span
        with pytest.raises(UserInputError, match=r"sweep.json: job 'job0' has the span .*, not \[start, end, epochs\]"):
            load_model(record, "sweep.json", {})
