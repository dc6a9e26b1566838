"""Fetch one large file (a data set's archive) from a list of mirrors, resuming what was cut off.

The bytes land in `<name>.partial` beside the final name, written as they arrive: whatever ends the
transfer (a dropped connection, Ctrl-C, SIGKILL) leaves a prefix that the next request or the next
run continues with `Range: bytes=<len>-`. Nothing is trusted until it is whole: the file gets its final
name (one rename) only once it has the catalog's size and SHA-256. A server that ignores Range (200,
not 206) is read again from byte 0; bytes received twice are counted, so a report shows what a
restart cost. A mirror that cannot serve the file (4xx, an HTML page where the archive belongs, a
file of another size, failures past the retries) is noted with its reason and the next is tried.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from urllib3.exceptions import HTTPError

from pipelines.data.http import HttpClient, RequestFailed, attempts, describe, release, with_attempts
from pipelines.errors import UserInputError
from pipelines.folder_lock import holding_file

CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class Remote:
    name: str  # the file name to write, e.g. "cifar-10-python.tar.gz"
    size: int  # bytes
    sha256: str  # hex; empty when none is pinned (then the size alone is checked)
    urls: tuple[str, ...]  # mirrors, tried in order


@dataclass(frozen=True)
class TransferReport:
    path: str  # the verified file
    url: str | None  # the mirror that served it (None: already there, verified, no request made)
    bytes_fetched: int  # bytes received over the network in this call
    bytes_refetched: int  # of those, bytes received though already in hand (a restart from 0, an overlap)
    resumed_from: int  # bytes of a .partial kept from an earlier run (size = resumed_from + fetched - refetched)
    attempts: int  # requests made
    seconds: float
    failed_mirrors: tuple[tuple[str, str], ...]  # (url, reason) for mirrors given up on


class TransferError(UserInputError):
    """A file that could not be fetched or does not verify; one line naming it and what to do."""


def verify_file(path: Path, size: int, sha256: str, fix: str = "delete it and fetch it again") -> None:
    """Raise TransferError naming `path` and saying `fix` unless it has `size` bytes and (if pinned) `sha256`."""
    try:
        actual = Path(path).stat().st_size
        if actual != size:
            raise TransferError(f"{path} is {actual} bytes, not {size}: {fix}")
        digest = _hash_prefix(Path(path), hashlib.sha256()).hexdigest() if sha256 else None
    except OSError as err:
        raise TransferError(f"cannot read {path}: {err.strerror}") from None
    if digest and digest != sha256.lower():
        raise TransferError(f"{path} has sha256 {digest}, not {sha256}: {fix}")


def fetch_file(remote: Remote, dest_dir: Path, client: HttpClient,
               progress: Callable[[int], None] | None = None) -> TransferReport:
    """`dest_dir/<name>`, verified, fetched from the first mirror that serves it (none if it is there).

    `progress(n)` is called as bytes arrive with n, the bytes of the file now in hand (a resumed
    transfer starts at the kept prefix; a server that ignores Range takes it back to 0). Raises
    TransferError when every mirror failed, when the bytes do not verify (then nothing is kept), and
    when another process is fetching the same file into `dest_dir`."""
    started = time.perf_counter()
    dest_dir = Path(dest_dir)
    final = dest_dir / remote.name
    if final.is_file() and _verifies(final, remote):
        return TransferReport(str(final), None, 0, 0, 0, 0, time.perf_counter() - started, ())
    dest_dir.mkdir(parents=True, exist_ok=True)
    partial = dest_dir / f"{remote.name}.partial"

    def busy(holder: str) -> TransferError:
        return TransferError(f"{final} is being fetched by {holder}: wait for it to end")

    with holding_file(dest_dir / f"{partial.name}.lock", busy):
        if final.is_file() and _verifies(final, remote):  # the process we waited behind fetched it
            return TransferReport(str(final), None, 0, 0, 0, 0, time.perf_counter() - started, ())
        transfer = _Transfer(remote, partial, client, progress)
        try:
            url = transfer.run()
        finally:
            transfer.close()
        if remote.sha256 and transfer.hasher.hexdigest() != remote.sha256.lower():
            partial.unlink()
            raise TransferError(f"{final} (completed from {url}) has sha256 {transfer.hasher.hexdigest()}, not the "
                                f"expected {remote.sha256}: the upstream file may have changed or the mirror is "
                                "wrong (nothing was kept)")
        os.replace(partial, final)
        _sync_folder(dest_dir)
    return TransferReport(str(final), url, transfer.fetched, transfer.refetched, transfer.resumed_from,
                          transfer.attempts, time.perf_counter() - started, tuple(transfer.failed))


class _MirrorFailed(Exception):
    """This mirror cannot serve the file: the reason, for the report and the error."""


@dataclass
class _Transfer:
    """One fetch's state: the open .partial, the hash of its bytes, and the counts of the report."""

    remote: Remote
    partial: Path
    client: HttpClient
    progress: Callable[[int], None] | None
    fetched: int = 0
    refetched: int = 0
    attempts: int = 0
    failed: list = field(default_factory=list)

    def __post_init__(self):
        if self.partial.is_file() and self.partial.stat().st_size > self.remote.size:
            self.partial.unlink()  # not a prefix of this file: nothing in it can be trusted
        self.file = open(self.partial, "ab", buffering=0)  # unbuffered: the file holds what was hashed
        self.hasher = _hash_prefix(self.partial, hashlib.sha256())
        self.have = self.resumed_from = self.high = self.file.tell()

    def run(self) -> str:
        """The URL of the mirror that completed the file; TransferError when none could."""
        for url in self.remote.urls:
            try:
                self._from(url)
                self.file.flush()
                os.fsync(self.file.fileno())
                return url
            except _MirrorFailed as failed:
                self.failed.append((url, str(failed)))
        reasons = "; ".join(f"{url}: {reason}" for url, reason in self.failed) or "the catalog lists no mirror"
        kept = f" ({self.have} bytes kept in {self.partial} for a rerun)" if self.have else ""
        raise TransferError(f"{self.remote.name}: no mirror could serve it: {reasons}{kept}")

    def close(self) -> None:
        self.file.close()

    def _from(self, url: str) -> None:
        """Request the missing bytes from `url` until the file is whole. A body cut off after new
        bytes is resumed at once; one that brought none spends one of the client's retries."""
        tries = failures = 0
        while self.have < self.remote.size:
            try:
                response = self.client.get(url, {"Range": f"bytes={self.have}-"} if self.have else None, stream=True)
            except RequestFailed as failed:
                self.attempts += failed.attempts
                raise _MirrorFailed(with_attempts(failed.reason, tries + failed.attempts)) from None
            self.attempts += attempts(response)
            tries += attempts(response)
            high = self.high
            try:
                self._take(response, tries)
                problem = None if self.have == self.remote.size else f"the body ended at byte {self.have}"
            except HTTPError as err:  # a timeout, a reset, fewer bytes than announced
                problem = describe(err)
            finally:
                release(response)
            if problem:
                failures = 0 if self.high > high else failures + 1
                if failures > self.client.retries:
                    raise _MirrorFailed(with_attempts(problem, tries))
                time.sleep(self.client.backoff * 2 ** (failures - 1) if failures else 0)

    def _take(self, response, tries: int) -> None:
        """Append `response`'s body to the .partial (from byte 0 where it does not honour Range)."""
        size, name = self.remote.size, self.remote.name
        if response.status not in (200, 206):
            raise _MirrorFailed(with_attempts(f"HTTP {response.status}", tries))
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "text/html":
            raise _MirrorFailed(f"an HTML page (Content-Type text/html) where {name} belongs")
        offset, total = (_content_range(response.headers.get("Content-Range", "")) if response.status == 206
                         else (0, _int(response.headers.get("Content-Length"))))
        if total is not None and total != size:
            raise _MirrorFailed(f"its file has {total} bytes, not the {size} of {name}")
        if offset > self.have:
            raise _MirrorFailed(f"asked for bytes from {self.have}, it sent bytes from {offset}")
        for chunk in response.stream(CHUNK, decode_content=False):
            if offset == 0 and chunk.lstrip()[:9].lower().startswith((b"<!doctype", b"<html")):
                raise _MirrorFailed(f"an HTML page where {name} belongs (its body starts {chunk.lstrip()[:9]!r})")
            if offset == 0 and response.status == 200 and self.have:  # Range ignored: the whole file again
                self.file.truncate(0)
                self.hasher, self.have = hashlib.sha256(), 0
            self._keep(chunk, offset)
            offset += len(chunk)

    def _keep(self, chunk: bytes, offset: int) -> None:
        """Count `chunk` (received at `offset`) and append the part of it beyond what the file holds."""
        self.fetched += len(chunk)
        self.refetched += max(0, min(offset + len(chunk), self.high) - offset)
        new = chunk[self.have - offset:]
        if self.have + len(new) > self.remote.size:
            raise _MirrorFailed(f"it sends more than the {self.remote.size} bytes of {self.remote.name}")
        self.file.write(new)
        self.hasher.update(new)
        self.have += len(new)
        self.high = max(self.high, self.have)
        if self.progress and new:
            self.progress(self.have)


def _content_range(value: str) -> tuple[int, int | None]:
    """(first byte, total size or None) of a 206's `Content-Range: bytes 100-199/1000`."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match:
        raise _MirrorFailed(f"a partial answer (206) without a usable Content-Range ({value!r})")
    return int(match[1]), None if match[3] == "*" else int(match[3])


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _verifies(path: Path, remote: Remote) -> bool:
    try:
        verify_file(path, remote.size, remote.sha256)
        return True
    except TransferError:
        return False


def _hash_prefix(path: Path, hasher):
    """`hasher` fed with the bytes `path` holds (none if it does not exist)."""
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                hasher.update(block)
    except FileNotFoundError:
        pass
    return hasher


def _sync_folder(folder: Path) -> None:
    """Make the rename durable: a crash just after it must not bring the .partial back."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
