"""Offline preprocessing: decode, convert to RGB, resize and write TFRecord shards plus a manifest.

Each shard is one engine task (`write_shard`), so Spark and the local process pool run the same
function. A shard lands under a temporary name and is renamed when complete; its result (record
count, size and sha256, the files that could not be decoded) is then saved in `.progress/`. The
manifest is written last, and only when every split has examples: its presence means the output is
complete. A rerun skips the shards whose results exist, so a crash costs only the shards in flight;
what it may remove is only the command's own names (see `shard_folder`). The command is OUT's only
writer (`_sole_writer`): two jobs writing one shard name corrupt each other's files and manifests.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipelines import atomic, folder_lock
from pipelines.data import manifest as shard_manifest
from pipelines.data import shard_folder, tfrecord
from pipelines.data.decode import UnreadableImage, read_image
from pipelines.data.manifest import FORMAT, MANIFEST
from pipelines.data.shard_folder import PROGRESS, partial_name, shard_name
from pipelines.data.source import ImageFolderSource
from pipelines.engines import EngineSettings, Progress, map_tasks
from pipelines.errors import UserInputError
from pipelines.outputs import writable_folder
from pipelines.settings import setting

SIZES = (16, 1024)  # the smallest and largest --size: beyond them an image is noise or a memory hazard


@dataclass(frozen=True)
class PreprocessSettings:
    size: int = setting(224, "Square image size in the shards, 16 to 1024 pixels.")
    shards: int | None = setting(None, "Train shards (default: ~1 per 1,000 images, at least 2 per core).")
    seed: int = setting(0, "Deals examples to shards.")

    def validate(self) -> None:
        if not SIZES[0] <= self.size <= SIZES[1]:
            raise UserInputError(f"--size must be between {SIZES[0]} and {SIZES[1]} pixels, not {self.size}")
        if self.shards is not None and self.shards < 1:
            raise UserInputError("--shards must be at least 1")
        if self.seed < 0:
            raise UserInputError("--seed must be 0 or more")


@dataclass(frozen=True)
class ShardTask:
    out: str
    split: str
    index: int
    count: int
    size: int
    entries: tuple[tuple[str, int, str], ...]  # (path, label, wnid)

    @property
    def name(self) -> str:
        return shard_name(self.split, self.index, self.count)


def _example(image: np.ndarray, label: int, wnid: str, path: str) -> bytes:
    """One record; names are stored as the file system's bytes (os.fsencode), which a name that is not
    UTF-8 still has."""
    return tfrecord.example({"image": image.tobytes(), "size": image.shape[0], "label": label,
                             "wnid": os.fsencode(wnid), "path": os.fsencode(path)})


def _load(path: str, size: int) -> tuple[np.ndarray | None, str | None]:
    """(the decoded image, None), or (None, why not): a bad file in a million must not abort the job."""
    try:
        return read_image(path, size), None
    except UnreadableImage as error:
        return None, error.reason


def write_shard(task: ShardTask) -> dict:
    """Decode, resize and write one shard; undecodable files are listed, never fatal."""
    started = time.time()
    out = Path(task.out)
    partial = out / partial_name(task.name)
    written, failed = 0, []
    with open(partial, "wb") as shard:
        for path, label, wnid in task.entries:
            image, problem = _load(path, task.size)
            if problem:
                failed.append({"split": task.split, "path": path, "reason": problem})
                continue
            shard.write(tfrecord.record(_example(image, label, wnid, path)))
            written += 1
    final = partial.rename(out / task.name)
    result = {"split": task.split, "shard": shard_manifest.shard_record(final, written), "failed": failed,
              "started": started, "finished": time.time()}
    atomic.write_json(out / PROGRESS / f"{task.name}.json", result)
    return result


def plan_shards(source: ImageFolderSource, out: Path, settings: PreprocessSettings, cores: int) -> list[ShardTask]:
    """Every shard of every split, with examples dealt out in a seeded random order.

    Shuffling before dealing gives each shard a mix of classes, so that readers can shuffle at the
    shard level and still see every class early.
    """
    splits = {"train": source.split("train")}
    if (source.root / "val").is_dir():
        splits["val"] = source.split("val")
    train_shards = settings.shards or max(2 * cores, round(len(splits["train"]) / 1000))
    tasks = []
    for name, split in splits.items():
        count = train_shards if name == "train" else max(1, round(train_shards * len(split) / len(splits["train"])))
        count = min(count, len(split))
        order = np.random.default_rng([settings.seed, len(tasks)]).permutation(len(split))
        for index, chunk in enumerate(np.array_split(order, count)):
            entries = tuple((split.paths[i], split.labels[i], split.classes[split.labels[i]]) for i in chunk)
            tasks.append(ShardTask(str(out), name, index, count, settings.size, entries))
    return tasks


def _job_identity(source: ImageFolderSource, settings: PreprocessSettings) -> dict:
    return {"source": str(source.root.resolve()), **asdict(settings)}


def preprocess(src: Path, out: Path, settings: PreprocessSettings, engine: EngineSettings,
               progress: Progress | None = None) -> dict:
    """Run the job; returns the manifest with `"ran": False` when a complete output was already there."""
    settings.validate()
    engine.validate()
    out = writable_folder(out, "OUT")
    source = ImageFolderSource(src)
    with _sole_writer(out):
        return _run(source, out, settings, engine, progress)


@contextlib.contextmanager
def _sole_writer(out: Path):
    """Hold OUT's lock (pipelines.folder_lock) from the first look into OUT to the manifest, so that a
    second job into OUT is refused at once, naming this one.

    The lock file goes when the job ends in a final state: a complete output, or a refusal (which
    leaves none of this job's files, nor a folder this job created). A process that opened the file
    just before it went, and locks it after, then finds that same final state: the finished output,
    or the reason for the refusal. After a crash or a stop the file stays, one of the command's own
    names, and the rerun takes it over."""
    created = not out.exists()
    with folder_lock.holding(out, "OUT") as lock:
        try:
            yield
        except UserInputError:
            _let_go(lock, out, created)
            raise
        _let_go(lock, out, created)


def _let_go(lock: Path, out: Path, created: bool) -> None:
    lock.unlink(missing_ok=True)
    if created and not any(out.iterdir()):
        out.rmdir()


def _run(source: ImageFolderSource, out: Path, settings: PreprocessSettings, engine: EngineSettings,
         progress: Progress | None) -> dict:
    identity = _job_identity(source, settings)
    finished = _finished_output(out, identity)
    if finished:
        return {**finished, "ran": False}
    shard_folder.refuse_foreign(out)

    tasks = plan_shards(source, out, settings, cores=len(os.sched_getaffinity(0)))
    saved = _saved_results(out, identity)
    pending = [t for t in tasks if t.name not in saved]
    done_before = len(tasks) - len(pending)
    report = (lambda done, total: progress(done_before + done, len(tasks))) if progress else None
    started = time.time()
    fresh = map_tasks(write_shard, pending, engine, report)
    wall = time.time() - started
    results = {**saved, **{r["shard"]["name"]: r for r in fresh}}

    manifest = _manifest(tasks, results, source, identity, engine.engine)
    _refuse_empty_splits(manifest, source, out)
    atomic.write_json(out / MANIFEST, manifest)
    shard_folder.clear(out, keep=frozenset(t.name for t in tasks))
    return {**manifest, "ran": True, "resumed_shards": done_before, "timing": _timing(fresh, wall)}


def _finished_output(out: Path, identity: dict) -> dict | None:
    """The manifest when `out` already holds this job complete (checked as a reader checks it); None when
    it holds no manifest, or this job's output in an older format, which is removed to be redone."""
    if not (out / MANIFEST).exists() or shard_folder.remove_older_output(out, identity):
        return None
    manifest = shard_manifest.load(out)
    if manifest["job"] != identity:
        raise UserInputError(f"{out} holds shards made with other parameters: choose another folder or remove it")
    shard_manifest.check_sizes(out, manifest)
    return manifest


def _refuse_empty_splits(manifest: dict, source: ImageFolderSource, out: Path) -> None:
    """A split that no image could be decoded into is an error, and no manifest is written for it."""
    empty = [name for name, split in manifest["splits"].items() if split["examples"] == 0]
    if not empty:
        return
    shard_folder.clear(out)
    name = empty[0]
    failed = [f for f in manifest["failed"] if f["split"] == name]
    reasons = "; ".join(f"{f['path']}: {f['reason']}" for f in failed[:3])
    raise UserInputError(f"none of the {len(failed)} images of the {name} split of {source.root} could be decoded "
                         f"(e.g. {reasons}): fix or replace them; nothing was kept in {out}")


def _timing(results: list[dict], wall: float) -> dict | None:
    """This run's pace: over the wall time, and over the span in which shards were being written
    (which leaves out the engine's start-up: the JVM, and each worker's first TensorFlow import)."""
    if not results:
        return None
    images = sum(r["shard"]["examples"] + len(r["failed"]) for r in results)
    span = max(r["finished"] for r in results) - min(r["started"] for r in results)
    return {"images": images, "wall_s": wall, "work_span_s": span, "shard_s": [r["finished"] - r["started"] for r in results],
            "images_per_s": images / span, "wall_images_per_s": images / wall}


def _saved_results(out: Path, identity: dict) -> dict[str, dict]:
    """Results of shards finished by an earlier, interrupted run of the same job (and of this format)
    whose files are still there at their recorded size; otherwise the command's own files are cleared
    and the job marker written."""
    job_file = out / PROGRESS / shard_folder.JOB_MARKER
    marker = {"format": FORMAT, **identity}
    if job_file.is_file() and json.loads(job_file.read_text()) == marker:
        saved = (json.loads(p.read_text()) for p in (out / PROGRESS).glob("*.tfrecord.json"))
        return {r["shard"]["name"]: r for r in saved if _intact(out / r["shard"]["name"], r["shard"]["bytes"])}
    shard_folder.clear(out)
    atomic.write_json(job_file, marker)
    return {}


def _intact(path: Path, size: int) -> bool:
    return path.is_file() and path.stat().st_size == size


def _manifest(tasks: list[ShardTask], results: dict[str, dict], source: ImageFolderSource, identity: dict,
              engine: str) -> dict:
    splits: dict[str, dict] = {}
    for task in tasks:
        entry = splits.setdefault(task.split, {"examples": 0, "files": []})
        shard = results[task.name]["shard"]
        entry["examples"] += shard["examples"]
        entry["files"].append(shard)
    failed = sorted((f for r in results.values() for f in r["failed"]), key=lambda f: f["path"])
    return shard_manifest.seal({
        "format": FORMAT,
        "job": identity,
        "engine": engine,
        "image_size": identity["size"],
        "encoding": "raw uint8 RGB, row-major",
        "classes": list(source.classes),
        "splits": splits,
        "failed": failed,
    })
