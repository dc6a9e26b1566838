"""Fetch the images of an ImageNet URL list (`fall11_urls.txt` format) into `OUT/<wnid>/<id>.JPEG`.

The list is cut into partitions that an engine (Spark or a local process pool) runs; inside a
partition a few threads wait on the network at once, sharing one client (pipelines.data.http) that
keeps connections alive and does the retrying. A file is written only after its bytes decode
as an image, and by rename, so a rerun can trust what it finds: valid files are skipped without a
request and everything else is fetched again.
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipelines import engines
from pipelines.atomic import write_bytes, write_json
from pipelines.data.decode import decode_problem, open_image
from pipelines.data.http import HttpClient, RequestFailed, attempts, with_attempts
from pipelines.engines import EngineSettings, Progress
from pipelines.errors import UserInputError
from pipelines.settings import setting
from pipelines.outputs import writable_folder

MANIFEST_FORMAT = "lth-harness/download/1"
STATUSES = ("downloaded", "skipped", "failed")
LINE_FORMAT = "expected '<wnid>_<n><TAB><url>', e.g. 'n01440764_10026\\thttp://example.com/fish.jpg'"
_IMAGE_ID = re.compile(r"n\d+_\d+", re.ASCII)
MAX_TIMEOUT = 3600.0  # seconds; a socket takes no timeout past ~1e9 s, and an hour per read is already none
MAX_RETRIES = 10  # with the doubling backoff, 10 retries already wait about 2**10 backoffs


@dataclass(frozen=True)
class DownloadSettings:
    timeout: float = setting(10.0, "Seconds per socket operation (connect, each read).")
    retries: int = setting(3, "Extra attempts after timeouts, connection errors, truncated bodies, HTTP 429 and 5xx.")
    backoff: float = 0.5  # waits between retries double from this (pipelines.data.http)
    connections: int = setting(8, "Concurrent requests per task.")
    partition_size: int = 256  # entries per engine task

    def validate(self) -> None:
        # `not <=` as well as `<`: NaN compares false with everything, so it fails these checks too
        if not 0 < self.timeout <= MAX_TIMEOUT:
            raise UserInputError(f"--timeout must be positive seconds, at most {MAX_TIMEOUT}, not {self.timeout}")
        if not 0 <= self.retries <= MAX_RETRIES:
            raise UserInputError(f"--retries must be at least 0 and at most {MAX_RETRIES}, not {self.retries}")
        if not 0 <= self.backoff <= MAX_TIMEOUT:
            raise UserInputError(f"--backoff must be at least 0 and at most {MAX_TIMEOUT} seconds, not {self.backoff}")
        for name in ("connections", "partition_size"):
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name.replace('_', '-')} must be at least 1")


@dataclass(frozen=True)
class FetchTask:
    """One partition: what `fetch_partition` needs, small and picklable for either engine."""

    entries: tuple[tuple[str, str], ...]  # (image_id, url)
    out_dir: str
    settings: DownloadSettings


def parse_url_list(path: Path) -> list[tuple[str, str]]:
    """(image_id, url) for each line `<wnid>_<n>\\t<url>`; blank lines are ignored.

    Bytes that are not UTF-8 (copies of the list found in the wild hold some) are kept as surrogates,
    so that the request sends them back as they were, percent-encoded.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as err:
        raise UserInputError(f"cannot read URL list {path}: {err.strerror}") from None
    entries: list[tuple[str, str]] = []
    first_seen: dict[str, int] = {}
    # split("\n"), not splitlines(): the latter also breaks at characters that may sit inside a URL
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        image_id, tab, url = line.rstrip("\r").partition("\t")
        url = url.strip()
        if not tab:
            problem = "no tab between id and URL"
        elif not _IMAGE_ID.fullmatch(image_id):
            problem = f"id {image_id!r} is not <wnid>_<n>"
        elif not url:
            problem = "no URL after the tab"
        elif image_id in first_seen:
            problem = f"id {image_id} is already listed on line {first_seen[image_id]}"
        else:
            first_seen[image_id] = line_no
            entries.append((image_id, url))
            continue
        raise UserInputError(f"{path}:{line_no}: {problem}; {LINE_FORMAT}")
    return entries


def fetch_partition(task: FetchTask) -> list[dict]:
    """Fetch one partition's entries, `connections` at a time; one result per entry, in order."""
    out, settings = Path(task.out_dir), task.settings
    threads = max(1, min(settings.connections, len(task.entries)))
    # the client is built here, in the engine's worker: sockets do not pickle
    with HttpClient(settings.timeout, settings.retries, settings.backoff, settings.connections) as client, \
            ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda entry: _fetch_one(*entry, out, client), task.entries))


def download(urls: Path, out: Path, settings: DownloadSettings, engine: EngineSettings,
             progress: Progress | None = None) -> dict:
    """Fetch every image of the list `urls` into `out`; writes `out/manifest.json` and returns it."""
    settings.validate()
    engine.validate()
    urls, out = Path(urls).resolve(), Path(out).resolve()  # absolute: engine workers may run elsewhere
    writable_folder(out, "OUT")
    entries = parse_url_list(urls)
    size = settings.partition_size
    tasks = [FetchTask(tuple(entries[i:i + size]), str(out), settings) for i in range(0, len(entries), size)]
    results = [r for part in engines.map_tasks(fetch_partition, tasks, engine, progress) for r in part]
    counts = Counter(r["status"] for r in results)
    failed = [{"id": r["id"], "url": r["url"], "reason": r["reason"]} for r in results if r["status"] == "failed"]
    manifest = {
        "format": MANIFEST_FORMAT,
        "urls_file": str(urls),
        "engine": engine.engine,
        "counts": {"total": len(results), **{status: counts[status] for status in STATUSES}},
        "failed": sorted(failed, key=lambda f: f["id"]),
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def _fetch_one(image_id: str, url: str, out: Path, client: HttpClient) -> dict:
    """One entry's result; whatever its URL provokes stays its failure: a list of millions must not stop at one."""
    target = out / image_id.partition("_")[0] / f"{image_id}.JPEG"
    result = {"id": image_id, "url": url}
    if target.is_file() and _image_problem(target.read_bytes()) is None:
        return {**result, "status": "skipped", "reason": None, "attempts": 0}
    try:
        response = client.get(url)
    except RequestFailed as failure:
        return _failed(result, failure.reason, failure.attempts)
    tries = attempts(response)
    if not 200 <= response.status < 300:  # 3xx: a redirect without a usable Location
        return _failed(result, f"HTTP {response.status}", tries)
    problem = _image_problem(response.data)
    if problem:
        content_type = response.headers.get("Content-Type", "no Content-Type").split(";")[0]
        return _failed(result, f"{problem} ({content_type})", tries)
    write_bytes(target, response.data)
    return {**result, "status": "downloaded", "reason": None, "attempts": tries}


def _failed(result: dict, reason: str, tries: int) -> dict:
    return {**result, "status": "failed", "reason": with_attempts(reason, tries), "attempts": tries}


def _image_problem(data: bytes) -> str | None:
    """None when PIL decodes `data` completely (JPEG, PNG, ...); otherwise what is wrong with it."""
    try:
        with open_image(data) as image:  # a decompression bomb is refused from its header, as everywhere
            image.load()
    except Exception as err:
        return decode_problem(err)
    return None
