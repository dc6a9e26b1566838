"""`fetch(name, out)`: a catalog data set downloaded (or taken from the user's archives), verified and unpacked.

Everything is built in the sibling `OUT.partial/` and renamed to OUT when complete, so OUT exists
only complete, with its `dataset.json` (written last): a killed fetch leaves nothing in OUT a rerun
could trust. Downloads land in `OUT.partial/.downloads/` (transfer keeps `<name>.partial` there, so a
rerun resumes an interrupted download with an HTTP range request); they are removed once unpacked,
the user's own `--archive` files never are. The record is `dataset.json`, not `manifest.json`: a
folder holding a `manifest.json` is read as preprocessed shards (pipelines.data.shards).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from pipelines import atomic, folder_lock
from pipelines.data import transfer
from pipelines.data.catalog import DATASETS, DataSet, with_mirror
from pipelines.data.manifest import sha256_of
from pipelines.data.unpack import UNPACKERS, class_folders
from pipelines.errors import UserInputError
from pipelines.outputs import writable_folder
from pipelines.settings import setting

FORMAT = "lth-harness/dataset/1"
RECORD = "dataset.json"
DOWNLOADS = ".downloads"
UNPACKING = ".unpack"
SHARDS = "shards"
MARKER = ".lth-harness-fetch-partial"  # what makes a leftover OUT.partial this command's own
Phase = Callable[[str, int, int], None]  # (phase: "download" | "unpack", done, total)


@dataclass(frozen=True)
class FetchSettings:
    timeout: float = setting(30.0, "Seconds per socket operation (connect, each read).")
    retries: int = setting(3, "Extra attempts per mirror after timeouts, connection errors, 5xx and cut-off bodies.")
    connections: int = setting(4, "Files of a data set fetched at once.")
    backoff: float = 0.5  # the first retry waits this long, then doubles

    def validate(self) -> None:
        if not 0 < self.timeout <= 3600:  # `not <=` catches NaN too
            raise UserInputError(f"--timeout must be positive seconds, at most 3600, not {self.timeout}")
        if not 0 <= self.retries <= 10:
            raise UserInputError(f"--retries must be 0 to 10, not {self.retries}")
        if self.connections < 1:
            raise UserInputError("--connections must be at least 1")


def fetch(name: str, out: Path, *, archives: Iterable[Path] | None = None, mirror: str | None = None,
          settings: FetchSettings = FetchSettings(), progress: Phase | None = None) -> dict:
    """Fetch, verify and unpack data set `name` into `out`; returns its record, with `ran` False when
    `out` already held it."""
    entry = with_mirror(DATASETS[name], mirror)
    settings.validate()
    out = writable_folder(out, "OUT")
    finished = finished_record(out, entry)
    if finished:
        return {**finished, "ran": False}
    if out.exists() and any(out.iterdir()):
        raise UserInputError(f"{out} exists and does not hold {name}: choose another OUT or remove it")
    started = time.monotonic()
    given = user_archives(entry, archives) if archives else None  # verified before anything is made
    with _building(out) as partial:
        files = given or _download(entry, partial / DOWNLOADS, settings, progress)
        downloaded = time.monotonic()
        record = _unpack(entry, files, partial, progress)
        record["seconds"] = {"download": round(downloaded - started, 3),
                             "unpack": round(time.monotonic() - downloaded, 3)}
        atomic.write_json(partial / RECORD, record)
    return {**record, "ran": True}


def finished_record(out: Path, entry: DataSet) -> dict | None:
    """The record of `out` when it already holds `entry`, complete, from the same files."""
    try:
        record = json.loads((out / RECORD).read_text(encoding="utf-8"))
        files = {f["name"]: f for f in record["files"]}
        same = record["format"] == FORMAT and record["dataset"] == entry.name and all(
            r.name in files and files[r.name]["bytes"] == r.size and r.sha256 in ("", files[r.name]["sha256"])
            for r in entry.files)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if same and all((out / s).is_dir() for s in ("train", "val")) else None


def user_archives(entry: DataSet, paths: Iterable[Path]) -> dict[str, dict]:
    """The user's files (each a file, or a folder holding them by name) for each catalog file, verified."""
    wanted = {f.name: f for f in entry.files}
    found: dict[str, Path] = {}
    for path in map(Path, paths):
        if path.is_dir():
            found.update({n: path / n for n in wanted if (path / n).is_file() and n not in found})
        elif path.is_file():
            name = path.name if path.name in wanted or len(wanted) > 1 else next(iter(wanted))
            if name not in wanted:
                raise UserInputError(f"--archive {path}: {entry.name} has no file of that name; its files are "
                                     f"{', '.join(wanted)}")
            found[name] = path
        else:
            raise UserInputError(f"--archive {path} does not exist")
    missing = [n for n in wanted if n not in found]
    if missing:
        raise UserInputError(f"--archive: {entry.name} also needs {', '.join(missing)} (give the files, or a "
                             "folder holding them by name)")
    return {name: {"path": found[name], "source": str(found[name].resolve()), "sha256": verify(found[name], remote)}
            for name, remote in wanted.items()}


def verify(path: Path, remote: transfer.Remote) -> str:
    """Check `path` against the catalog (size and SHA-256; the size alone where none is pinned); its SHA-256."""
    transfer.verify_file(path, remote.size, remote.sha256,
                         fix=f"it is not the {remote.name} the catalog pins (or not all of it): give that file")
    return remote.sha256 or sha256_of(path)


@contextlib.contextmanager
def _building(out: Path):
    """`OUT.partial`, locked and marked as this command's; renamed to `out` when the block completes.
    On a refusal it keeps only what a rerun can use (downloads); a stop or a crash keeps all of it."""
    partial = out.with_name(out.name + ".partial")
    if partial.exists() and any(partial.iterdir()) and not (partial / MARKER).is_file():
        raise UserInputError(f"{partial} exists and was not left by `harness data fetch`: move it away (this "
                             "command builds there) or choose another OUT")
    with folder_lock.holding(partial, "OUT") as lock:
        (partial / MARKER).touch()
        shutil.rmtree(partial / UNPACKING, ignore_errors=True)
        try:
            yield partial
        except UserInputError:
            shutil.rmtree(partial / UNPACKING, ignore_errors=True)
            if not any(p.suffix != ".lock" for p in (partial / DOWNLOADS).glob("*")):
                shutil.rmtree(partial)
            raise
        shutil.rmtree(partial / DOWNLOADS, ignore_errors=True)
        (partial / MARKER).unlink()
        lock.unlink()
        if out.exists():
            out.rmdir()  # empty: checked before any work
        partial.rename(out)


def _download(entry: DataSet, folder: Path, settings: FetchSettings, progress: Phase | None) -> dict[str, dict]:
    """Every file of `entry` into `folder`, several at once; {name: {path, source, sha256, report}}."""
    from pipelines.data.http import HttpClient

    folder.mkdir(parents=True, exist_ok=True)
    done = {f.name: 0 for f in entry.files}

    def moved(name: str) -> Callable[[int], None] | None:
        def report(so_far: int) -> None:
            done[name] = so_far
            progress("download", sum(done.values()), entry.size)
        return report if progress else None

    def one(remote: transfer.Remote) -> tuple[str, dict]:
        report = transfer.fetch_file(remote, folder, client, progress=moved(remote.name))
        path = Path(report.path)
        return remote.name, {"path": path, "source": report.url, "sha256": remote.sha256 or sha256_of(path),
                             "transfer": _transfer_fields(report)}

    with HttpClient(timeout=settings.timeout, retries=settings.retries, backoff=settings.backoff,
                    connections=settings.connections) as client:
        if len(entry.files) == 1:  # in this thread: a stop signal then ends the download at once
            return dict([one(entry.files[0])])
        with ThreadPoolExecutor(max_workers=min(settings.connections, len(entry.files))) as pool:
            return dict(pool.map(one, entry.files))


def _transfer_fields(report: transfer.TransferReport) -> dict:
    return {"bytes_fetched": report.bytes_fetched, "bytes_refetched": report.bytes_refetched,
            "resumed_from": report.resumed_from, "attempts": report.attempts, "seconds": round(report.seconds, 3),
            "failed_mirrors": [list(pair) for pair in report.failed_mirrors]}


def _unpack(entry: DataSet, files: dict[str, dict], partial: Path, progress: Phase | None) -> dict:
    work = partial / UNPACKING
    work.mkdir()
    report = (lambda done, total: progress("unpack", done, total)) if progress else None
    counts = UNPACKERS[entry.unpacker](entry, {n: f["path"] for n, f in files.items()}, work, report)
    for split, expected in (("train", entry.train), ("val", entry.val)):
        if sum(counts[split].values()) != expected:
            raise UserInputError(f"{entry.name}: the archives hold {sum(counts[split].values())} {split} images, "
                                 f"the catalog {expected}: the upstream files changed")
        (work / split).rename(partial / split)
    work.rmdir()
    pinned = {r.name: r.sha256 for r in entry.files}
    return {"format": FORMAT, "dataset": entry.name, "license": entry.license, "homepage": entry.homepage,
            "files": [{"name": n, "bytes": r.size, "sha256": files[n]["sha256"], "sha256_pinned": bool(pinned[n]),
                       "source": files[n]["source"], **({"transfer": files[n]["transfer"]} if "transfer" in files[n]
                                                        else {})}
                      for n, r in ((r.name, r) for r in entry.files)],
            "classes": _classes(entry, counts), "counts": {s: sum(c.values()) for s, c in counts.items()},
            "per_class": counts}


def _classes(entry: DataSet, counts: dict[str, dict[str, int]]) -> list[dict]:
    """Each class folder in label order (sorted names) with its class name."""
    folders = entry.folders or class_folders(entry.classes)
    names = dict(zip(folders, entry.classes))
    return [{"label": i, "folder": f, "name": names[f]} for i, f in enumerate(sorted(counts["train"]))]


def to_shards(out: Path, name: str, progress: Callable[[int, int], None] | None = None) -> dict:
    """The fetched folder `out` as TFRecord shards in `out/shards` at the data set's own size
    (`harness data preprocess` with the local engine); returns the shard manifest."""
    from pipelines.data.preprocess import PreprocessSettings, preprocess
    from pipelines.engines import EngineSettings

    size = max(16, DATASETS[name].image_size)
    return preprocess(out, out / SHARDS, PreprocessSettings(size=size), EngineSettings(engine="local"), progress)
