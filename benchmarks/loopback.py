"""A programmable HTTP/1.1 server on 127.0.0.1: the image host of the download benchmark, and the
servers of the HTTP client's and the transfers' tests (tests/test_http.py, tests/test_transfer.py).

Routes are functions of (handler, hit) where hit counts the requests for that path, 1 first. The
server logs every request (path, Range header, arrival time, connection) and counts connections
open at once, so tests assert what the client did on the wire, not what it says it did.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

Route = Callable[["Handler", int], None]


@dataclass(frozen=True)
class Request:
    path: str
    range: str | None
    agent: str | None  # User-Agent
    at: float  # time.monotonic() on arrival
    connection: int  # serial number of the TCP connection it came on


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real hosts
    disable_nagle_algorithm = True  # as real hosts (nginx's tcp_nodelay): no 40 ms stall per kept-alive response

    def setup(self):
        super().setup()
        self.connection_id = self.server.opened()
        time.sleep(self.server.rtt)  # the TCP handshake's round trip, paid once per connection

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.closed()

    def do_GET(self):
        time.sleep(self.server.rtt)  # the request's round trip
        hit = self.server.log(Request(self.path, self.headers.get("Range"), self.headers.get("User-Agent"),
                                       time.monotonic(), self.connection_id))
        route = self.server.routes.get(self.path, self.server.fallback)
        if route is None:
            self.send(404, b"no such route\n")
        else:
            route(self, hit)

    def send(self, status: int, body: bytes = b"", content_type: str = "application/octet-stream",
             headers: dict[str, str] | None = None, length: int | None = None) -> None:
        """A response with Content-Length (`length`, if given, may promise more than `body` holds)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_file(self, data: bytes, honour_range: bool = True, cut_at: int | None = None, range_from: int | None = None,
                  pace: tuple[int, float] | None = None) -> None:
        """`data`, or with a `Range: bytes=N-` header (when honoured) its bytes from N as a 206 (from
        `range_from` instead, if given: a server that rounds ranges down). `cut_at`: the connection
        is closed after that many bytes of the file, the promised length unsent. `pace`: (bytes,
        seconds) per write, a slow host."""
        asked = self.headers.get("Range") if honour_range else None
        start = 0
        if asked:
            start = int(asked.removeprefix("bytes=").rstrip("-")) if range_from is None else range_from
        self.send_response(206 if asked else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if asked:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        end = len(data) if cut_at is None else max(start, cut_at)
        step, pause = pace or (len(data), 0.0)
        for at in range(start, end, step):
            self.wfile.write(data[at:min(at + step, end)])
            self.wfile.flush()
            time.sleep(pause)
        if cut_at is not None:
            self.close_connection = True

    def log_message(self, *args):
        pass


class Loopback(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.fallback: Route | None = None  # for paths without a route of their own (else 404)
        self.rtt = 0.0  # seconds: a distant host, emulated (a handshake per connection, a round trip per request)
        self.requests: list[Request] = []
        self.hits: Counter = Counter()
        self.connections = self.open_now = self.most_open = 0
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"

    def log(self, request: Request) -> int:
        with self.lock:
            self.requests.append(request)
            self.hits[request.path] += 1
            return self.hits[request.path]

    def opened(self) -> int:
        with self.lock:
            self.connections += 1
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
            return self.connections

    def closed(self) -> None:
        with self.lock:
            self.open_now -= 1

    def handle_error(self, request, client_address):
        pass  # a client that gave up (a timeout, a killed process) is part of the tests


@contextlib.contextmanager
def serving() -> Iterator[Loopback]:
    server = Loopback()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
