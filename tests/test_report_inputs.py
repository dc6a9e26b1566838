"""`harness report` and `harness compare` on the inputs people actually have: broken files, wrong paths.

A results folder is a collection: what cannot be read is skipped and named, the rest is reported.
A file or folder named on the command line is a request: if it cannot be honoured, exit 2 with one line.
Every record and search is built by hand (tests/records.py), nothing trains.
"""

import copy
import json
from pathlib import Path

import pytest

from harness.figures import compare
from harness.results import find_record
from records import sample_records

SEARCH_SUMMARY = {"dense": {"top1": 0.885, "top5": 0.99, "loss": 0.4, "epochs": 4, "train_seconds": 12.0},
                  "tickets": [{"job_id": "j0", "control": False, "rewind": 0, "actual_sparsity": 0.5, "top1": 0.85},
                              {"job_id": "j1", "control": True, "rewind": None, "actual_sparsity": 0.5, "top1": 0.7}]}
# The keys that replicates, retraining modes and --stability added, one or two rows each: two modes, so
# that the retraining-modes chart is drawn too (only the first row of each list is mutated).
_MEAN = {"rewind": "500it", "rewind_step": 500, "mask_id": "global-s0.5000", "actual_sparsity": 0.5, "top1_mean": 0.86}
_POINT = {"network": "global-s0.5000", "actual_sparsity": 0.5, "rewind": "500it", "rewind_step": 500}
REPLICATED_SUMMARY = {
    **SEARCH_SUMMARY,
    "tickets": [{**SEARCH_SUMMARY["tickets"][0], "rewind_step": 0, "mode": "lr"}, SEARCH_SUMMARY["tickets"][1]],
    "dense_mean": {"n": 2, "top1_mean": 0.88, "top1_sd": 0.01},
    "aggregate": [{**_MEAN, "mode": "weight", "control": False, "n": 2, "top1_sd": 0.01},
                  {**_MEAN, "mode": "lr", "control": False, "n": 2, "top1_sd": 0.02}],
    "matching": [{**_MEAN, "mode": "weight"}],
    "stability": [{**_POINT, "barrier": 0.05}, {**_POINT, "barrier": 0.07}],
    "stability_aggregate": [{**_POINT, "n": 2, "barrier_mean": 0.06, "barrier_sd": 0.014}],
}
SEARCH_CONFIG = {"workload": "small", "epochs": 4}
UNREADABLE = {  # file name: its bytes, and what the reason for skipping it says
    "not-json.json": (b"{", "not JSON"),
    "two\nlines.json": (b"{", "not JSON"),
    "binary.json": (b"\x00\xff\xfe\x80 binary", "not text"),
    "list.json": (b"[1, 2]", "is a list, expected an object"),
    "null.json": (b"null", "is null, expected an object"),
    "deep.json": (b"[" * 100_000, "too deeply nested"),
    "other-schema.json": (json.dumps({"schema": "lth-harness/run-record/9"}).encode(), "not a run record of this"),
}


def write_json(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


def write_search(folder: Path, summary=SEARCH_SUMMARY, config=SEARCH_CONFIG) -> Path:
    write_json(folder / "summary.json", summary)
    write_json(folder / "run.json", config)
    return folder


def saved(folder: Path, records: list[dict]) -> list[Path]:
    return [write_json(folder / f"{record['run_id']}.json", record) for record in records]


def one_line_error(result) -> str:
    """The stderr of an exit-2 command, which must be one line and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def reported(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_report_skips_each_unreadable_file_names_it_and_renders_the_rest(harness_cli, tmp_path):
    results = tmp_path / "results"
    good = sample_records()[:3]
    saved(results, good)
    for name, (data, _) in UNREADABLE.items():
        (results / name).write_bytes(data)
    no_rate = copy.deepcopy(good[0])
    del no_rate["timing"]["images_per_s"]
    wrong_type = copy.deepcopy(good[0])
    wrong_type["monitor"]["cpu"]["per_core_pct"] = "busy"
    write_json(results / "no-rate.json", no_rate)
    write_json(results / "wrong-type.json", wrong_type)
    (results / "folder.json").mkdir()
    write_search(results / "lth-good")
    (write_search(results / "lth-corrupt-summary") / "summary.json").write_text('{"dense": ')
    (write_search(results / "lth-corrupt-config") / "run.json").write_bytes(b"\xff\xfe")
    write_search(results / "lth-no-top1", summary={**SEARCH_SUMMARY, "tickets": [{"control": False}]})
    (results / "lth-unfinished").mkdir()
    in_progress = results / "lth-in-progress"  # a search still being written: settings, two jobs, no summary
    write_json(in_progress / "run.json", SEARCH_CONFIG)
    for job in ("a", "b"):
        write_json(in_progress / "jobs" / f"{job}.json", {"job_id": job, "status": "done"})
    out = tmp_path / "report.html"

    result = harness_cli("report", results, "--out", out, "--json", "--lth", results / "lth-unfinished",
                         "--lth", results / "lth-good")  # found inside RESULTS too: counted once

    summary = reported(result)
    expected = {**{name: reason for name, (_, reason) in UNREADABLE.items()},
                "lth-unfinished": "no summary.json", "lth-in-progress": "still being written, or stopped before its "
                "summary (2 job result(s) so far", "no-rate.json": "timing.images_per_s is missing",
                "wrong-type.json": "monitor.cpu.per_core_pct is a string", "folder.json": "not a regular file",
                "lth-corrupt-summary/summary.json": "not JSON", "lth-corrupt-config/run.json": "not text",
                "lth-no-top1/summary.json": "tickets[0].actual_sparsity is missing"}
    skipped = {Path(s["path"]).relative_to(results).as_posix(): s["reason"] for s in summary["skipped"]}
    assert set(skipped) == set(expected)
    for name, reason in expected.items():
        assert reason in skipped[name], (name, skipped[name])
    lines = result.stderr.strip().splitlines()  # one line a file, even for a name holding a newline
    shown = {name: str(results / name) if "\n" not in name else ascii(str(results / name)) for name in expected}
    assert sorted(lines) == sorted(f"skipped {shown[name]}: {skipped[name]}" for name in expected)
    assert summary["runs"] == 3 and summary["searches"] == [str(results / "lth-good")]
    page = out.read_text()
    assert page.count("<li><code>") == len(expected) and "Skipped files" in page
    assert all(str(results / name) in page for name in expected)


@pytest.mark.parametrize("case", ["--lth missing", "--lth a file", "RESULTS a file"])
def test_a_folder_named_that_is_missing_or_a_file_exits_2(harness_cli, tmp_path, case):
    results = tmp_path / "results"
    saved(results, sample_records()[:1])
    a_file = write_json(tmp_path / "a-file.json", {})
    missing = tmp_path / "no-such-search"
    first, extra, named, says = {
        "--lth missing": (results, ["--lth", missing], missing, "does not exist"),
        "--lth a file": (results, ["--lth", a_file], a_file, "is a file, not a folder"),
        "RESULTS a file": (a_file, [], a_file, "is a file, not a folder"),
    }[case]

    line = one_line_error(harness_cli("report", first, "--out", tmp_path / "r.html", *extra))

    assert str(named) in line and says in line
    assert not (tmp_path / "r.html").exists()


def test_a_results_folder_with_nothing_readable_exits_2_counting_what_was_skipped(harness_cli, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for name in ("not-json.json", "binary.json", "list.json"):
        (results / name).write_bytes(UNREADABLE[name][0])
    write_search(results / "lth-broken", summary=[])

    line = one_line_error(harness_cli("report", results, "--out", tmp_path / "r.html"))

    assert "nothing to report" in line and "all 4 file(s)" in line and str(results / "binary.json") in line


@pytest.mark.parametrize("out", ["a folder", "under a file", "unwritable"])
def test_report_out_is_checked_before_any_work(harness_cli, tmp_path, out):
    a_file = write_json(tmp_path / "a-file.json", {})
    target = {"a folder": tmp_path, "under a file": a_file / "r.html", "unwritable": Path("/sys/r.html")}[out]

    # RESULTS does not exist either: the --out check comes first
    line = one_line_error(harness_cli("report", tmp_path / "no-results", "--out", target))

    assert f"--out {target}" in line


@pytest.mark.parametrize("reference, says", [
    ("*", "no run record match"),  # glob characters are taken literally...
    ("2026112?T000000-cpu-naive", "no run record match"),  # ...even where a glob would match one record
    ("[2]0261125", "no run record match"),
    ("missing/record.json", "does not exist"),
    ("/no/such/record.json", "does not exist"),
    ("{files}", "is a folder"),
    ("{files}/binary.json", "not text"),
    ("{files}/list.json", "is a list, expected an object"),
    ("{files}/null.json", "is null, expected an object"),
    ("{files}/no-rate.json", "timing.images_per_s is missing"),
    ("{files}/rate-as-text.json", "timing.images_per_s is a string, expected a positive number"),
])
def test_compare_refuses_a_reference_it_cannot_honour_in_one_line(harness_cli, tmp_path, reference, says):
    results = tmp_path / "results"
    first = saved(results, sample_records()[:1])[0]
    files = tmp_path / "files"
    files.mkdir()
    for name in ("binary.json", "list.json", "null.json"):
        (files / name).write_bytes(UNREADABLE[name][0])
    no_rate, as_text = sample_records()[2], sample_records()[2]
    del no_rate["timing"]["images_per_s"]
    as_text["timing"]["images_per_s"] = "fast"
    write_json(files / "no-rate.json", no_rate)
    write_json(files / "rate-as-text.json", as_text)
    named = reference.format(files=files)

    line = one_line_error(harness_cli("compare", first, named, "--results", results))

    assert named in line and says in line and "give " in line  # the reference, what is wrong, what to do


# Every field of a full record (each key, and the first item of each list) is deleted, nulled, or given
# the wrong type in turn: the report must then skip the record naming that field, or render it.
MUTATIONS = {"deleted": ..., "null": None, "text": "x", "number": 7, "zero": 0}


def key_paths(value, prefix=()):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from key_paths(inner, (*prefix, key))
    elif isinstance(value, list) and value:
        yield (*prefix, 0)
        yield from key_paths(value[0], (*prefix, 0))


def dotted(path: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def mutated(value, path: tuple, new):
    changed = copy.deepcopy(value)
    parent = changed
    for part in path[:-1]:
        parent = parent[part]
    if new is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return changed


def full_records() -> list[dict]:
    """A GPU training run with every optional block (profile, verdict, placement, GPU monitor), a data
    run against the decode ceiling, a sweep."""
    records = sample_records()
    gpu, data, sweep = records[3], records[4], records[7]
    gpu["profile"] = records[1]["profile"]
    return [gpu, data, sweep]


def every_mutation():
    for base in full_records():
        for path in key_paths(base):
            for name, new in MUTATIONS.items():
                if new is ... and isinstance(path[-1], int):
                    continue  # deleting a list item changes the list, not a field
                yield base, path, name, mutated(base, path, new)
    for file, base in (("summary.json", REPLICATED_SUMMARY), ("run.json", SEARCH_CONFIG)):
        for path in key_paths(base):
            for name, new in MUTATIONS.items():
                if not (new is ... and isinstance(path[-1], int)):
                    yield file, path, name, mutated(base, path, new)


def test_no_field_can_crash_the_report_or_compare(harness_cli, tmp_path):
    results = tmp_path / "results"
    cases = {}
    for index, (base, path, name, value) in enumerate(every_mutation()):
        if isinstance(base, str):  # a search file
            folder = write_search(results / f"lth-{index}")
            cases[write_json(folder / base, value)] = (path, None)
        else:
            cases[write_json(results / f"{index:04d}.json", value)] = (path, base)

    summary = reported(harness_cli("report", results, "--out", tmp_path / "r.html", "--json"))

    skipped = {Path(s["path"]): s["reason"] for s in summary["skipped"]}
    for file, reason in skipped.items():  # each names the field that made it unreadable
        path, _ = cases[file]
        assert dotted(path) in reason, (file, dotted(path), reason)
    kept = [(file, base) for file, (_, base) in cases.items() if base is not None and file not in skipped]
    assert summary["runs"] == len(kept) and len(summary["searches"]) == sum(
        1 for file, (_, base) in cases.items() if base is None and file not in skipped)
    for file, base in kept:  # and every record the report kept, `compare` reads both ways
        record = find_record(str(file), results)
        assert compare(base, record) and compare(record, base)
    assert len(skipped) > 100 and len(kept) > 100  # both outcomes are exercised


def test_a_record_without_any_optional_field_is_reported(harness_cli, tmp_path):
    """Every field whose deletion alone the report took, deleted together: still a record it reports."""
    results = tmp_path / "results"
    minimal = []
    for index, record in enumerate(full_records()):
        folder = tmp_path / f"probe-{index}"
        paths = [path for path in key_paths(record) if not isinstance(path[-1], int)]
        files = {write_json(folder / f"{i:04d}.json", mutated(record, path, ...)): path
                 for i, path in enumerate(paths)}
        summary = reported(harness_cli("report", folder, "--out", tmp_path / "probe.html", "--json"))
        dropped = {Path(s["path"]) for s in summary["skipped"]}
        optional = sorted((files[f] for f in files if f not in dropped), key=len, reverse=True)
        for path in optional:  # the deepest first, so that no path has lost its parent yet
            record = mutated(record, path, ...)
        minimal.append(record)
    saved(results, minimal)

    summary = reported(harness_cli("report", results, "--out", tmp_path / "r.html", "--json"))

    assert summary["runs"] == 3 and summary["skipped"] == []
    assert compare(minimal[0], minimal[2]) and compare(minimal[2], minimal[1])

