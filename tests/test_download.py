import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pipelines.data.download import DownloadSettings, FetchTask, download, fetch_partition, parse_url_list
from pipelines.data.synth import encode, render_image
from pipelines.engines import EngineSettings
from pipelines.errors import UserInputError

JPEG = encode(render_image(0, np.random.default_rng(0)), None)
PNG = encode(render_image(1, np.random.default_rng(1)), "png")
TRUNCATED_AT = 1000
FAST = DownloadSettings(timeout=0.5, retries=3, backoff=0.01, connections=16, partition_size=3)
LOCAL = EngineSettings(engine="local", workers=2)


class _Handler(BaseHTTPRequestHandler):
    """Routes, by raw request path:

    /img/<any>                  the JPEG            /png       PNG bytes
    /missing                    404                 /page      an HTML page with 200
    /redirect                   302 to /img/redirected
    /flaky/<kind>/<n>/<tag>     misbehaves on the first n requests for that path, then the JPEG;
                                kind 503, slow (sleeps past the client's timeout) or truncated
                                (Content-Length of the whole JPEG, TRUNCATED_AT bytes, then close)
    """

    def do_GET(self):
        with self.server.lock:
            self.server.hits[self.path] += 1
            self.server.agents.add(self.headers["User-Agent"])
            seen = self.server.hits[self.path]
        route = self.path.split("/")[1:]
        if route[0] == "img":
            self._send(JPEG, "image/jpeg")
        elif route == ["png"]:
            self._send(PNG, "image/png")
        elif route == ["missing"]:
            self.send_error(404)
        elif route == ["page"]:
            self._send(b"<html><body>This photo is no longer available</body></html>", "text/html; charset=utf-8")
        elif route == ["redirect"]:
            self.send_response(302)
            self.send_header("Location", "/img/redirected")
            self.end_headers()
        elif route[0] == "flaky" and seen <= int(route[2]):
            self._misbehave(route[1])
        elif route[0] == "flaky":
            self._send(JPEG, "image/jpeg")
        else:
            self.send_error(400, "no such route")

    def _misbehave(self, kind: str) -> None:
        if kind == "503":
            self.send_error(503)
        elif kind == "slow":
            time.sleep(2 * FAST.timeout)
            self._send(JPEG, "image/jpeg")
        elif kind == "truncated":
            self._send(JPEG[:TRUNCATED_AT], "image/jpeg", length=len(JPEG))
            self.close_connection = True

    def _send(self, body: bytes, content_type: str, length: int | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # the default 5 drops some of a partition's simultaneous connects

    def handle_error(self, request, client_address):
        pass  # the slow route writes to clients that have already given up


@pytest.fixture(scope="module")
def http_server():
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hits, server.agents, server.lock = Counter(), set(), threading.Lock()
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def server(http_server):
    """The shared server with its request counts, and so its flaky routes, reset."""
    http_server.hits.clear()
    http_server.agents.clear()
    return http_server


def target(out: Path, image_id: str) -> Path:
    return out / image_id.split("_")[0] / f"{image_id}.JPEG"


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def outcome(results: list[dict]) -> dict:
    return {r["id"]: (r["status"], r["reason"], r["attempts"]) for r in results}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- parsing -------------------------------------------------------------------------------------

def test_parse_reads_ids_and_urls_ignoring_blank_lines(tmp_path):
    path = tmp_path / "urls.txt"
    path.write_bytes(b"n01440764_10026\thttp://a.org/1.jpg\r\n\n   \nn01440764_7\thttp://a.org/two words.jpg \n"
                     b"n02_3\thttp://a.org/caf\xe9.jpg")
    assert parse_url_list(path) == [
        ("n01440764_10026", "http://a.org/1.jpg"),
        ("n01440764_7", "http://a.org/two words.jpg"),
        ("n02_3", "http://a.org/caf\udce9.jpg"),  # a latin-1 byte, kept to be sent back as %E9
    ]


@pytest.mark.parametrize("bad_line, problem", [
    ("n01440764_8 http://a.org/x.jpg", "no tab between id and URL"),
    ("cat_8\thttp://a.org/x.jpg", "id 'cat_8' is not <wnid>_<n>"),
    ("n01440764\thttp://a.org/x.jpg", "id 'n01440764' is not <wnid>_<n>"),
    ("n01440764_8\t  ", "no URL after the tab"),
    ("n01440764_1\thttp://a.org/again.jpg", "id n01440764_1 is already listed on line 1"),
])
def test_parse_names_file_line_and_problem(tmp_path, bad_line, problem):
    path = tmp_path / "urls.txt"
    path.write_text(f"n01440764_1\thttp://a.org/1.jpg\n\n{bad_line}\nn01440764_9\thttp://a.org/9.jpg\n")
    with pytest.raises(UserInputError) as caught:
        parse_url_list(path)
    assert str(caught.value).startswith(f"{path}:3: {problem}; expected '<wnid>_<n><TAB><url>'")


def test_missing_url_list_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="cannot read URL list .*nope.txt: No such file"):
        parse_url_list(tmp_path / "nope.txt")


@pytest.mark.parametrize("field, value, message", [
    ("timeout", 0, "--timeout must be positive"),
    ("timeout", float("nan"), "--timeout must be positive"),
    ("retries", -1, "--retries must be at least 0"),
    ("retries", 11, "--retries must be at least 0 and at most 10"),
    ("backoff", float("inf"), "--backoff must be at least 0 and at most"),
    ("connections", 0, "--connections must be at least 1"),
    ("partition_size", 0, "--partition-size must be at least 1"),
])
def test_settings_are_validated_before_any_work(tmp_path, field, value, message):
    settings = DownloadSettings(**{field: value})
    with pytest.raises(UserInputError, match=message):
        download(tmp_path / "never-read.txt", tmp_path / "out", settings, LOCAL)


@pytest.mark.parametrize("timeout", ["nan", "inf", "1e10"])
def test_a_timeout_that_is_not_a_usable_number_exits_2(harness_cli, tmp_path, timeout):
    urls = tmp_path / "urls.txt"
    urls.write_text(f"n01440764_1\thttp://127.0.0.1:{closed_port()}/a.jpg\n")
    result = harness_cli("data", "download", urls, tmp_path / "out", "--engine", "local", "--timeout", timeout)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.strip().startswith("Error: --timeout must be positive seconds, at most 3600")
    assert not (tmp_path / "out").exists()


def test_a_url_that_does_not_parse_is_one_listed_failure(server, tmp_path):
    bad = ["http://[::1", "http://[::1]:port/x.jpg", "http://a..b/x.jpg", "http://\x00/x.jpg", "http://[zz]/x.jpg"]
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"n6_{i}\t{url}\n" for i, url in enumerate([f"{server.url}/img/a", *bad])))
    manifest = download(urls, tmp_path / "out", FAST, LOCAL)
    assert manifest["counts"] == {"total": 6, "downloaded": 1, "skipped": 0, "failed": 5}
    assert [(f["url"], f["reason"].split(":")[0]) for f in manifest["failed"]] == [(url, "bad URL") for url in bad]


# ---- one partition, every fault at once (the threads overlap the slow ones) ---------------------

@pytest.fixture(scope="module")
def fault_run(http_server, tmp_path_factory):
    """Every route fetched once by one partition: its results, the requests it made, its OUT."""
    url, dead = http_server.url, f"http://127.0.0.1:{closed_port()}/img/x"
    entries = (
        ("n1_1", f"{url}/img/good"),
        ("n1_2", f"{url}/png"),
        ("n1_3", f"{url}/missing"),
        ("n1_4", f"{url}/page"),
        ("n1_5", f"{url}/redirect"),
        ("n1_6", f"{url}/flaky/503/2/a"),
        ("n1_7", f"{url}/flaky/503/99/b"),
        ("n1_8", f"{url}/flaky/slow/1/c"),
        ("n1_9", f"{url}/flaky/slow/99/d"),
        ("n1_10", f"{url}/flaky/truncated/1/e"),
        ("n1_11", f"{url}/flaky/truncated/99/f"),
        ("n2_1", f"{url}/img/café s"),
        ("n2_2", dead),
        ("n2_3", "ftp://127.0.0.1/x.jpg"),
    )
    out = tmp_path_factory.mktemp("faults")
    http_server.hits.clear()
    http_server.agents.clear()
    results = fetch_partition(FetchTask(entries, str(out), FAST))
    return SimpleNamespace(results=results, hits=dict(http_server.hits), agents=set(http_server.agents), out=out)


def test_each_fault_gets_its_status_reason_and_attempts(fault_run):
    results = fault_run.results
    refused = [r for r in results if r["id"] == "n2_2"][0]
    assert refused["status"] == "failed" and refused["attempts"] == 4
    assert refused["reason"].startswith("connection failed: ") and refused["reason"].endswith(" after 4 attempts")
    assert outcome(r for r in results if r["id"] != "n2_2") == {
        "n1_1": ("downloaded", None, 1),
        "n1_2": ("downloaded", None, 1),
        "n1_3": ("failed", "HTTP 404", 1),
        "n1_4": ("failed", "not an image (text/html)", 1),
        "n1_5": ("downloaded", None, 1),
        "n1_6": ("downloaded", None, 3),
        "n1_7": ("failed", "HTTP 503 after 4 attempts", 4),
        "n1_8": ("downloaded", None, 2),
        "n1_9": ("failed", "timed out after 4 attempts", 4),
        "n1_10": ("downloaded", None, 2),
        "n1_11": ("failed", f"truncated body: {TRUNCATED_AT} of {len(JPEG)} bytes after 4 attempts", 4),
        "n2_1": ("downloaded", None, 1),
        "n2_3": ("failed", "bad URL: not http or https", 1),
    }
    assert [r["id"] for r in results] == [f"n1_{i}" for i in range(1, 12)] + ["n2_1", "n2_2", "n2_3"]


def test_server_sees_one_request_per_attempt_and_the_redirect_followed(fault_run):
    assert fault_run.agents == {"lth-harness/0.1"}
    assert fault_run.hits == {
        "/img/good": 1, "/png": 1, "/missing": 1, "/page": 1,
        "/redirect": 1, "/img/redirected": 1,
        "/flaky/503/2/a": 3, "/flaky/503/99/b": 4,
        "/flaky/slow/1/c": 2, "/flaky/slow/99/d": 4,
        "/flaky/truncated/1/e": 2, "/flaky/truncated/99/f": 4,
        "/img/caf%C3%A9%20s": 1,
    }


def test_only_complete_images_land_and_nothing_partial_or_temporary(fault_run):
    out = fault_run.out
    downloaded = ["n1_1", "n1_2", "n1_5", "n1_6", "n1_8", "n1_10", "n2_1"]
    # equality, not inclusion: no temp (.<name>.<random>.tmp) files and none for failed entries
    assert files_under(out) == {target(out, i) for i in downloaded}
    assert target(out, "n1_2").read_bytes() == PNG  # PNG kept as-is behind the .JPEG name
    assert all(target(out, i).read_bytes() == JPEG for i in downloaded if i != "n1_2")


# ---- existing files ------------------------------------------------------------------------------

def test_corrupted_existing_files_are_downloaded_again_and_valid_ones_skipped(server, tmp_path):
    out = tmp_path / "out"
    existing = {"n5_1": JPEG[:len(JPEG) // 2], "n5_2": b"<html>oops</html>", "n5_3": PNG}
    for image_id, data in existing.items():
        target(out, image_id).parent.mkdir(parents=True, exist_ok=True)
        target(out, image_id).write_bytes(data)
    entries = tuple((image_id, f"{server.url}/img/{image_id}") for image_id in existing)
    assert outcome(fetch_partition(FetchTask(entries, str(out), FAST))) == {
        "n5_1": ("downloaded", None, 1),
        "n5_2": ("downloaded", None, 1),
        "n5_3": ("skipped", None, 0),
    }
    assert server.hits == {"/img/n5_1": 1, "/img/n5_2": 1}
    assert [target(out, i).read_bytes() for i in existing] == [JPEG, JPEG, PNG]


# ---- the whole stage through an engine -----------------------------------------------------------

def write_list(path: Path, url: str) -> Path:
    """Seven entries, out of id order, with blank lines and a URL holding a non-UTF-8 byte."""
    lines = [
        f"n3_4\t{url}/page", f"n3_1\t{url}/img/good", "", f"n3_3\t{url}/missing", f"n3_2\t{url}/png",
        "", f"n3_5\t{url}/redirect", f"n3_6\t{url}/flaky/503/1/m",
    ]
    path.write_bytes("\n".join(lines).encode() + f"\nn3_7\t{url}/img/caf".encode() + b"\xe9\n")
    return path


def expected_manifest(urls: Path, url: str, engine: str) -> dict:
    return {
        "format": "lth-harness/download/1",
        "urls_file": str(urls.resolve()),
        "engine": engine,
        "counts": {"total": 7, "downloaded": 5, "skipped": 0, "failed": 2},
        "failed": [
            {"id": "n3_3", "url": f"{url}/missing", "reason": "HTTP 404"},
            {"id": "n3_4", "url": f"{url}/page", "reason": "not an image (text/html)"},
        ],
    }


def test_download_writes_the_manifest_and_reports_progress(server, tmp_path):
    urls, out = write_list(tmp_path / "urls.txt", server.url), tmp_path / "out"
    seen = []
    manifest = download(urls, out, FAST, LOCAL, progress=lambda done, total: seen.append((done, total)))
    assert manifest == expected_manifest(urls, server.url, "local")
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert seen[-1] == (3, 3)  # 7 entries in partitions of 3
    assert files_under(out) == {out / "manifest.json"} | {target(out, f"n3_{i}") for i in (1, 2, 5, 6, 7)}
    assert server.hits["/img/caf%E9"] == 1


def test_rerun_skips_valid_files_without_a_request_and_retries_only_the_failed(server, tmp_path):
    urls, out = tmp_path / "urls.txt", tmp_path / "out"
    urls.write_text(f"n4_1\t{server.url}/img/good\nn4_2\t{server.url}/png\nn4_3\t{server.url}/missing\n"
                    f"n4_4\t{server.url}/flaky/503/2/r\n")
    settings = DownloadSettings(timeout=0.5, retries=1, backoff=0.01, partition_size=2)
    first = download(urls, out, settings, LOCAL)
    assert first["counts"] == {"total": 4, "downloaded": 2, "skipped": 0, "failed": 2}
    assert [(f["id"], f["reason"]) for f in first["failed"]] == [
        ("n4_3", "HTTP 404"), ("n4_4", "HTTP 503 after 2 attempts")]

    before = Counter(server.hits)  # /flaky/503/2/r counts on: its third request succeeds
    second = download(urls, out, settings, LOCAL)
    assert second["counts"] == {"total": 4, "downloaded": 1, "skipped": 2, "failed": 1}
    assert second["failed"] == [{"id": "n4_3", "url": f"{server.url}/missing", "reason": "HTTP 404"}]
    assert Counter(server.hits) - before == {"/missing": 1, "/flaky/503/2/r": 1}
    assert json.loads((out / "manifest.json").read_text()) == second


@pytest.mark.slow
def test_spark_engine_gives_the_same_manifest_and_files_as_local(server, tmp_path):
    urls = write_list(tmp_path / "urls.txt", server.url)
    local = download(urls, tmp_path / "local", FAST, LOCAL)
    server.hits.clear()  # the flaky route fails once again for the Spark run
    spark = download(urls, tmp_path / "spark", FAST, EngineSettings(engine="spark"))
    assert spark == expected_manifest(urls, server.url, "spark")
    assert {**local, "engine": "spark"} == spark
    assert ({p.relative_to(tmp_path / "spark") for p in files_under(tmp_path / "spark")}
            == {p.relative_to(tmp_path / "local") for p in files_under(tmp_path / "local")})
