"""The one HTTP client (pipelines.data.http), judged by what a loopback server sees on the wire."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.data.http import HttpClient, RequestFailed, attempts
from benchmarks.loopback import serving


def client(connections: int = 4, retries: int = 3) -> HttpClient:
    return HttpClient(timeout=2.0, retries=retries, backoff=0.01, connections=connections)


@pytest.fixture
def server():
    with serving() as running:
        yield running


def test_requests_to_one_host_share_kept_alive_connections(server):
    server.routes["/a"] = lambda handler, hit: handler.send(200, b"x" * 1000)
    with client(connections=4) as http:
        statuses = [http.get(server.url("/a")).status for _ in range(20)]
    assert statuses == [200] * 20
    assert len(server.requests) == 20 and server.connections == 1  # one after the other: one connection


def test_connections_to_one_host_never_exceed_the_bound(server):
    def slow(handler, hit):
        time.sleep(0.05)  # long enough that eight threads would overlap on eight connections
        handler.send(200, b"ok")

    server.routes["/slow"] = slow
    with client(connections=2) as http, ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: http.get(server.url("/slow")).status, range(24)))
    assert statuses == [200] * 24
    assert server.most_open == 2 and server.connections == 2  # both used, never a third, none replaced


def test_retry_after_is_honoured(server):
    def busy_once(handler, hit):
        if hit == 1:
            handler.send(503, b"busy", headers={"Retry-After": "1"})
        else:
            handler.send(200, b"done")

    server.routes["/busy"] = busy_once
    with client() as http:
        response = http.get(server.url("/busy"))
    assert (response.status, response.data, attempts(response)) == (200, b"done", 2)
    first, second = server.requests
    assert second.at - first.at >= 0.95  # the backoff alone would have waited 0.01 s


def test_a_retry_after_that_is_not_a_number_or_date_falls_back_to_the_backoff(server):
    server.routes["/odd"] = lambda handler, hit: handler.send(503 if hit == 1 else 200, headers={"Retry-After": "soon"})
    with client() as http:
        response = http.get(server.url("/odd"))
    assert (response.status, attempts(response)) == (200, 2)


def test_a_status_that_stays_retryable_comes_back_after_the_budget(server):
    server.routes["/down"] = lambda handler, hit: handler.send(503)
    with client(retries=2) as http:
        response = http.get(server.url("/down"))
    assert (response.status, attempts(response), server.hits["/down"]) == (503, 3, 3)


def test_redirects_are_followed_without_spending_retries(server):
    server.routes["/old"] = lambda handler, hit: handler.send(302, headers={"Location": "/new"})
    server.routes["/new"] = lambda handler, hit: handler.send(200, b"moved")
    with client(retries=0) as http:
        response = http.get(server.url("/old"))
    assert (response.status, response.data, attempts(response)) == (200, b"moved", 1)


def test_no_response_raises_with_the_reason_and_the_attempts_made(server):
    port = server.server_port
    server.shutdown()
    server.server_close()  # nothing listens there any more
    with client(retries=2) as http, pytest.raises(RequestFailed) as caught:
        http.get(f"http://127.0.0.1:{port}/gone")
    assert caught.value.reason.startswith("connection failed: ") and caught.value.attempts == 3
    with client() as http, pytest.raises(RequestFailed, match="^bad URL: not http or https$"):
        http.get("ftp://127.0.0.1/x")


def test_a_client_serves_threads_at_once(server):
    """One client shared by a partition's threads: each gets its own response, whole."""
    server.routes.update({f"/{i}": (lambda i: lambda handler, hit: handler.send(200, str(i).encode() * 5000))(i)
                          for i in range(16)})
    barrier = threading.Barrier(8)

    def fetch(i):
        if i < 8:
            barrier.wait()
        return http.get(server.url(f"/{i}")).data == str(i).encode() * 5000

    with client(connections=8) as http, ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(fetch, range(16)))
