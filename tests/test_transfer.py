"""Fetching one large file by mirrors with resume (pipelines.data.transfer), against a loopback server:
what it writes, what it asks for on the wire, and what its report counts."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.data.http import HttpClient
from pipelines.data.transfer import Remote, TransferError, fetch_file, verify_file
from benchmarks.loopback import serving

DATA = bytes(range(256)) * 400  # 102,400 bytes
SHA = hashlib.sha256(DATA).hexdigest()
NAME = "archive.tar.gz"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server():
    with serving() as running:
        running.routes["/good"] = lambda handler, hit: handler.send_file(DATA)
        running.routes["/missing"] = lambda handler, hit: handler.send(404, b"not found")
        yield running


@pytest.fixture
def http():
    with HttpClient(timeout=2.0, retries=2, backoff=0.01, connections=4) as client:
        yield client


def remote(server, *paths: str, sha256: str = SHA) -> Remote:
    return Remote(NAME, len(DATA), sha256, tuple(server.url(path) for path in paths))


def partial_of(dest: Path) -> Path:
    return dest / f"{NAME}.partial"


def test_the_first_mirror_missing_the_second_serves(server, http, tmp_path):
    seen = []
    report = fetch_file(remote(server, "/missing", "/good"), tmp_path, http, progress=seen.append)
    assert (tmp_path / NAME).read_bytes() == DATA and not partial_of(tmp_path).exists()
    assert report.url == server.url("/good") and report.path == str(tmp_path / NAME)
    assert report.failed_mirrors == ((server.url("/missing"), "HTTP 404"),)
    assert (report.bytes_fetched, report.bytes_refetched, report.resumed_from, report.attempts) == (len(DATA), 0, 0, 2)
    assert seen == sorted(seen) and seen[-1] == len(DATA)


@pytest.mark.parametrize("range_from, refetched", [(None, 0), (20_000, 10_000)])
def test_a_connection_dropped_mid_body_is_resumed_with_range(server, http, tmp_path, range_from, refetched):
    """Dropped after 30,000 bytes; the resume asks for the rest (a server rounding ranges down to
    20,000 sends 10,000 bytes twice, which are counted and not written twice)."""
    server.routes["/drops"] = lambda handler, hit: handler.send_file(DATA, cut_at=30_000 if hit == 1 else None,
                                                                     range_from=range_from)
    report = fetch_file(remote(server, "/drops"), tmp_path, http)
    assert (tmp_path / NAME).read_bytes() == DATA
    assert [(request.range, request.agent) for request in server.requests] == [
        (None, "lth-harness/0.1"), ("bytes=30000-", "lth-harness/0.1")]
    assert (report.bytes_fetched, report.bytes_refetched) == (len(DATA) + refetched, refetched)
    assert (report.resumed_from, report.attempts, report.failed_mirrors) == (0, 2, ())


def test_a_rerun_resumes_from_the_partial_left_behind(server, http, tmp_path):
    partial_of(tmp_path).write_bytes(DATA[:40_000])
    report = fetch_file(remote(server, "/good"), tmp_path, http)
    assert (tmp_path / NAME).read_bytes() == DATA
    assert [request.range for request in server.requests] == ["bytes=40000-"]
    assert (report.resumed_from, report.bytes_fetched, report.bytes_refetched) == (40_000, len(DATA) - 40_000, 0)


def test_a_server_that_ignores_range_is_read_again_from_the_start(server, http, tmp_path):
    server.routes["/whole"] = lambda handler, hit: handler.send_file(DATA, honour_range=False)
    partial_of(tmp_path).write_bytes(DATA[:40_000])
    report = fetch_file(remote(server, "/whole"), tmp_path, http)
    assert (tmp_path / NAME).read_bytes() == DATA
    assert [request.range for request in server.requests] == ["bytes=40000-"]
    assert (report.resumed_from, report.bytes_fetched, report.bytes_refetched) == (40_000, len(DATA), 40_000)


def test_a_wrong_checksum_is_refused_and_nothing_kept(server, http, tmp_path):
    wrong = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(TransferError) as caught:
        fetch_file(remote(server, "/good", sha256=wrong), tmp_path, http)
    message = str(caught.value)
    assert NAME in message and wrong in message and SHA in message and "upstream file may have changed" in message
    assert "\n" not in message
    assert not partial_of(tmp_path).exists() and not (tmp_path / NAME).exists()


def test_html_where_the_archive_belongs_is_refused_naming_the_mirror(server, http, tmp_path):
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>" + b" " * (len(DATA) - 54)
    server.routes["/typed"] = lambda handler, hit: handler.send(200, b"<p>moved</p>", content_type="text/html")
    server.routes["/sniffed"] = lambda handler, hit: handler.send(200, page)  # octet-stream, the right size
    report = fetch_file(remote(server, "/typed", "/sniffed", "/good"), tmp_path, http)
    assert (tmp_path / NAME).read_bytes() == DATA
    assert [url for url, _ in report.failed_mirrors] == [server.url("/typed"), server.url("/sniffed")]
    assert all("HTML" in reason for _, reason in report.failed_mirrors)


def test_every_mirror_failing_is_one_line_with_each_reason(server, http, tmp_path):
    server.routes["/typed"] = lambda handler, hit: handler.send(200, b"<p>moved</p>", content_type="text/html")
    server.routes["/down"] = lambda handler, hit: handler.send(503)
    server.routes["/stalls"] = lambda handler, hit: handler.send_file(DATA, cut_at=0)  # headers, then nothing
    with pytest.raises(TransferError) as caught:
        fetch_file(remote(server, "/missing", "/typed", "/down", "/stalls"), tmp_path, http)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{NAME}: no mirror could serve it: ")
    assert [part.split(": ", 1) for part in message.removeprefix(f"{NAME}: no mirror could serve it: ").split("; ")] == [
        [server.url("/missing"), "HTTP 404"],
        [server.url("/typed"), f"an HTML page (Content-Type text/html) where {NAME} belongs"],
        [server.url("/down"), "HTTP 503 after 3 attempts"],  # the client's 2 retries spent
        [server.url("/stalls"), f"truncated body: 0 of {len(DATA)} bytes after 3 attempts"],
    ]
    assert server.hits == {"/missing": 1, "/typed": 1, "/down": 3, "/stalls": 3}
    assert not (tmp_path / NAME).exists()


def test_a_partial_longer_than_the_file_is_discarded(server, http, tmp_path):
    partial_of(tmp_path).write_bytes(b"\0" * (len(DATA) + 10))
    report = fetch_file(remote(server, "/good"), tmp_path, http)
    assert (tmp_path / NAME).read_bytes() == DATA
    assert [request.range for request in server.requests] == [None]
    assert (report.resumed_from, report.bytes_fetched) == (0, len(DATA))


def test_a_verified_file_is_not_fetched_again_and_a_wrong_one_is_replaced(server, http, tmp_path):
    (tmp_path / NAME).write_bytes(DATA)
    report = fetch_file(remote(server, "/good"), tmp_path, http)
    assert (report.url, report.attempts, report.bytes_fetched, server.requests) == (None, 0, 0, [])
    (tmp_path / NAME).write_bytes(DATA[::-1])
    report = fetch_file(remote(server, "/good"), tmp_path, http)
    assert report.url == server.url("/good") and (tmp_path / NAME).read_bytes() == DATA


def test_verify_file_names_the_file_and_what_is_wrong(tmp_path):
    path = tmp_path / NAME
    path.write_bytes(DATA[:-1])
    with pytest.raises(TransferError, match=f"{path} is {len(DATA) - 1} bytes, not {len(DATA)}"):
        verify_file(path, len(DATA), SHA)
    path.write_bytes(DATA[::-1])
    with pytest.raises(TransferError, match=f"{path} has sha256 [0-9a-f]{{64}}, not {SHA}"):
        verify_file(path, len(DATA), SHA)
    path.write_bytes(DATA)
    verify_file(path, len(DATA), SHA)


FETCH_IN_A_CHILD = """
import sys
from pathlib import Path
from pipelines.data.http import HttpClient
from pipelines.data.transfer import Remote, fetch_file
url, dest, size, sha = sys.argv[1:]
with HttpClient(timeout=5.0, retries=0, backoff=0.01, connections=1) as client:
    fetch_file(Remote("archive.tar.gz", int(size), sha, (url,)), Path(dest), client)
"""


def test_sigkill_mid_fetch_leaves_a_partial_that_a_rerun_completes(server, http, tmp_path):
    server.routes["/slow"] = lambda handler, hit: handler.send_file(DATA, pace=(4096, 0.02))  # ~0.5 s
    child = subprocess.Popen([sys.executable, "-c", FETCH_IN_A_CHILD, server.url("/slow"), str(tmp_path),
                              str(len(DATA)), SHA], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (partial_of(tmp_path).exists() and partial_of(tmp_path).stat().st_size >= 8192):
            assert child.poll() is None and time.monotonic() < deadline, child.stderr and child.stderr.read()
            time.sleep(0.01)
        with pytest.raises(TransferError, match=f"{tmp_path / NAME} is being fetched by pid {child.pid} on "):
            fetch_file(remote(server, "/good"), tmp_path, http)  # a second fetch of the same file, meanwhile
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    kept = partial_of(tmp_path).stat().st_size
    assert 0 < kept < len(DATA) and not (tmp_path / NAME).exists()
    report = fetch_file(remote(server, "/good"), tmp_path, http)
    assert report.resumed_from == kept and report.bytes_fetched == len(DATA) - kept
    assert hashlib.sha256((tmp_path / NAME).read_bytes()).hexdigest() == SHA
