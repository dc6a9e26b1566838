"""The one HTTP client of the data stages (`data download`, `data fetch`), on urllib3.

Why urllib3 rather than urllib.request: its pool keeps connections alive per host (urllib.request
opens one per request, which costs a handshake per image and, on TLS, most of the time), it bounds
the connections per host, and its Retry honours a server's Retry-After.

A client holds sockets and locks, so it is never pickled: build one where the work runs (inside an
engine's task), not in the driver, and close it there.

Each failure of a request (timeout, connection error, truncated body, a status in RETRY_STATUSES)
spends one of `retries`, whatever its kind; a redirect followed spends none, so that `retries=0` still
follows redirects. The waits double from `backoff` (urllib3's schedule: the first retry goes at once)
unless the server says how long with Retry-After (at most MAX_RETRY_AFTER seconds).
"""

from __future__ import annotations

import http.client
import string
import urllib.parse

import urllib3
from urllib3.exceptions import (HTTPError, IncompleteRead, LocationValueError, MaxRetryError, NewConnectionError,
                                ProtocolError, ResponseError, SSLError, TimeoutError as Urllib3Timeout)

USER_AGENT = "lth-harness/0.1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 120  # seconds; a host asking for hours would stall a worker thread that long


class RequestFailed(Exception):
    """No usable response: `reason` for a person (e.g. "timed out"), after `attempts` requests."""

    def __init__(self, reason: str, attempts: int = 1):
        super().__init__(reason)
        self.reason, self.attempts = reason, attempts


class HttpClient:
    """One connection pool per host, at most `connections` connections to each; thread-safe."""

    def __init__(self, timeout: float, retries: int, backoff: float, connections: int):
        self.retries, self.backoff = retries, backoff  # for callers that resume a body cut off mid-way
        self._retry = _Budget(total=retries, redirect=MAX_REDIRECTS, backoff_factor=backoff,
                              status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET"}),
                              respect_retry_after_header=True, retry_after_max=MAX_RETRY_AFTER,
                              raise_on_status=False)
        # block=True: a thread waits for a free connection rather than opening one past the bound;
        # num_pools: hosts whose idle connections are kept (a URL list spreads over many; least recent go)
        self._pool = urllib3.PoolManager(num_pools=max(10, 4 * connections), maxsize=connections, block=True,
                                         timeout=urllib3.Timeout(connect=timeout, read=timeout),
                                         retries=self._retry)

    def get(self, url: str, headers: dict[str, str] | None = None, stream: bool = False) -> urllib3.BaseHTTPResponse:
        """The response to GET `url` once retries are spent or not needed: any status, retried ones
        included (a 503 still there after the last retry comes back as the response).

        The body is read in full unless `stream`; then the caller reads it and calls `release`.
        Bytes come as the server sent them (no Content-Encoding is undone). Raises RequestFailed
        when no response came: a URL that cannot be requested, or every attempt failed."""
        try:
            scheme = urllib.parse.urlsplit(url).scheme
        except ValueError as err:  # e.g. an unclosed IPv6 bracket, `http://[::1`
            raise RequestFailed(f"bad URL: {err}") from None
        if scheme not in ("http", "https"):
            raise RequestFailed("bad URL: not http or https")
        try:
            # the User-Agent on each request: urllib3 drops a pool's own headers when a request brings some
            return self._pool.request("GET", _sendable(url), headers={"User-Agent": USER_AGENT, **(headers or {})},
                                      preload_content=not stream, decode_content=False)
        except MaxRetryError as err:
            raise RequestFailed(describe(err.reason), getattr(err, "attempts", self.retries + 1)) from None
        except Exception as err:  # not retried by urllib3: decided by the URL, so on the first attempt
            raise RequestFailed(describe(err)) from None

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def attempts(response: urllib3.BaseHTTPResponse) -> int:
    """Requests that `response` took: the failed ones retried, and the last (redirects not counted)."""
    return _failures(response.retries.history) + 1 if response.retries else 1


def with_attempts(reason: str, tries: int) -> str:
    """The reason as a person reads it: "HTTP 503 after 4 attempts", or just "HTTP 404" after one."""
    return reason if tries == 1 else f"{reason} after {tries} attempts"


def release(response: urllib3.BaseHTTPResponse) -> None:
    """Give a streamed response's connection back to the pool; closed first when its body was not
    read to the end, since unread bytes would be taken for the next response's."""
    if not response.closed:
        response.close()
    response.release_conn()


def describe(error: BaseException) -> str:
    """What went wrong, for a person: "timed out", "connection failed: ...", "truncated body: ..."."""
    if isinstance(error, ProtocolError) and len(error.args) > 1 and isinstance(error.args[1], BaseException):
        return describe(error.args[1])  # urllib3 wraps what the socket or http.client raised
    if isinstance(error, http.client.IncompleteRead):  # urllib3's counts bytes, http.client's keeps them
        got = error.partial if isinstance(error, IncompleteRead) else len(error.partial)
        return f"truncated body: {got} of {got + (error.expected or 0)} bytes"
    if isinstance(error, NewConnectionError):  # before its base class ConnectTimeoutError
        cause = error.__cause__
        return f"connection failed: {cause if isinstance(cause, OSError) else error}"
    if isinstance(error, (Urllib3Timeout, TimeoutError)):
        return "timed out"
    if isinstance(error, (LocationValueError, ValueError, http.client.InvalidURL)):
        return f"bad URL: {error}"
    if isinstance(error, (OSError, http.client.HTTPException, SSLError)):
        return f"connection failed: {error}"
    if isinstance(error, ResponseError):
        return str(error)  # "too many redirects"
    if isinstance(error, HTTPError):
        return f"failed: {error}"
    return f"failed: {type(error).__name__}: {error}"


def _sendable(url: str) -> str:
    """Percent-encode what a request line cannot hold (spaces, non-ASCII, and bytes that were not
    UTF-8, kept as surrogates by the URL list's reader); keep existing escapes."""
    return urllib.parse.quote(url, safe=string.punctuation, errors="surrogateescape")


def _failures(history) -> int:
    return sum(1 for entry in history if entry.redirect_location is None)


class _Budget(urllib3.Retry):
    """urllib3's Retry with one change of accounting: a redirect does not spend `total`, and the
    MaxRetryError it raises says how many requests were made (`attempts`)."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        redirect = error is None and response is not None and bool(response.get_redirect_location())
        base = self.new(total=self.total + 1) if redirect and self.total is not None else self
        try:
            return urllib3.Retry.increment(base, method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exhausted:
            exhausted.attempts = _failures(self.history) + 1
            raise

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            return super().parse_retry_after(retry_after)
        except HTTPError:  # a Retry-After that is neither seconds nor a date: back off as usual
            return 0.0
