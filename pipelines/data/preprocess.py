"""Offline preprocessing: decode, convert to RGB, resize and write TFRecord shards plus a manifest.

Each shard is one engine task (`write_shard`), so Spark and the local process pool run the same
function. A shard lands under a temporary name and is renamed when complete; its result (counts and
the files that could not be decoded) is then saved beside it in `.progress/`. The manifest is
written last: its presence means the output is complete. A rerun skips the shards whose results
exist, so a crash costs only the shards in flight.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipelines import atomic
from pipelines.data.decode import decode_pil, decode_problem
from pipelines.data.source import ImageFolderSource
from pipelines.engines import EngineSettings, Progress, map_tasks
from pipelines.errors import UserInputError

FORMAT = "lth-harness/shards/1"
MANIFEST = "manifest.json"
PROGRESS = ".progress"


@dataclass(frozen=True)
class PreprocessSettings:
    size: int = 224
    shards: int | None = None  # train shards; default about one per 1,000 images, at least 2 per core
    seed: int = 0

    def validate(self) -> None:
        if self.size < 8:
            raise UserInputError("--size must be at least 8 pixels")
        if self.shards is not None and self.shards < 1:
            raise UserInputError("--shards must be at least 1")


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


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def _example(image: np.ndarray, label: int, wnid: str, path: str):
    import tensorflow as tf

    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        "image": feature(image.tobytes()),
        "size": feature(image.shape[0]),
        "label": feature(label),
        "wnid": feature(wnid.encode()),
        "path": feature(path.encode()),
    })).SerializeToString()


def write_shard(task: ShardTask) -> dict:
    """Decode, resize and write one shard; undecodable files are listed, never fatal."""
    import tensorflow as tf

    started = time.time()  # after the import: a worker's one-time start-up is not shard work
    out = Path(task.out)
    final = out / task.name
    partial = out / f".{task.name}.partial"
    written, failed = 0, []
    with tf.io.TFRecordWriter(str(partial)) as writer:
        for path, label, wnid in task.entries:
            try:
                image = decode_pil(Path(path).read_bytes(), task.size)
            except Exception as error:  # a bad file in a million must not abort the job
                failed.append({"path": path, "reason": decode_problem(error)})
                continue
            writer.write(_example(image, label, wnid, path))
            written += 1
    partial.rename(final)
    result = {"split": task.split, "file": task.name, "examples": written, "failed": failed,
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
    source = ImageFolderSource(src)
    out = Path(out)
    identity = _job_identity(source, settings)
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("job") != identity:
            raise UserInputError(f"{out} holds shards made with other parameters: choose another folder or remove it")
        return {**manifest, "ran": False}
    if out.exists() and any(p.name != PROGRESS and not p.name.endswith(".tfrecord") and not p.name.startswith(".")
                            for p in out.iterdir()):
        raise UserInputError(f"{out} exists and holds other files: choose another folder or remove it")

    tasks = plan_shards(source, out, settings, cores=len(os.sched_getaffinity(0)))
    saved = _saved_results(out, identity)
    pending = [t for t in tasks if t.name not in saved]
    done_before = len(tasks) - len(pending)
    report = (lambda done, total: progress(done_before + done, len(tasks))) if progress else None
    started = time.time()
    fresh = map_tasks(write_shard, pending, engine, report)
    wall = time.time() - started
    results = {**saved, **{r["file"]: r for r in fresh}}

    manifest = _manifest(tasks, results, source, identity, engine.engine)
    atomic.write_json(manifest_path, manifest)
    shutil.rmtree(out / PROGRESS, ignore_errors=True)
    return {**manifest, "ran": True, "resumed_shards": done_before, "timing": _timing(fresh, wall)}


def _timing(results: list[dict], wall: float) -> dict | None:
    """This run's pace: over the wall time, and over the span in which shards were being written
    (which leaves out the engine's start-up: the JVM, and each worker's first TensorFlow import)."""
    if not results:
        return None
    images = sum(r["examples"] + len(r["failed"]) for r in results)
    span = max(r["finished"] for r in results) - min(r["started"] for r in results)
    return {"images": images, "wall_s": wall, "work_span_s": span, "shard_s": [r["finished"] - r["started"] for r in results],
            "images_per_s": images / span, "wall_images_per_s": images / wall}


def _saved_results(out: Path, identity: dict) -> dict[str, dict]:
    """Results of shards finished by an earlier, interrupted run of the same job."""
    folder = out / PROGRESS
    job_file = folder / "job.json"
    if job_file.is_file() and json.loads(job_file.read_text()) == identity:
        return {r["file"]: r for r in (json.loads(p.read_text()) for p in folder.glob("*.tfrecord.json"))
                if (out / r["file"]).is_file()}
    shutil.rmtree(folder, ignore_errors=True)
    for stale in [*out.glob("*.tfrecord"), *out.glob(".*.partial")] if out.is_dir() else []:
        stale.unlink()
    atomic.write_json(job_file, identity)
    return {}


def _manifest(tasks: list[ShardTask], results: dict[str, dict], source: ImageFolderSource, identity: dict,
              engine: str) -> dict:
    splits: dict[str, dict] = {}
    for task in tasks:
        entry = splits.setdefault(task.split, {"examples": 0, "files": []})
        entry["examples"] += results[task.name]["examples"]
        entry["files"].append(task.name)
    failed = sorted((f for r in results.values() for f in r["failed"]), key=lambda f: f["path"])
    return {
        "format": FORMAT,
        "job": identity,
        "engine": engine,
        "image_size": identity["size"],
        "encoding": "raw uint8 RGB, row-major",
        "classes": list(source.classes),
        "splits": splits,
        "failed": failed,
    }
