"""What a data set is, cheaply: a fingerprint to tell whether the data under a search changed.

A search folder's dense run, masks and tickets all come from one data set; a rerun over data
regenerated in place (other images, same classes and path) would mix the two silently. So the
search records this fingerprint and refuses to go on over data that no longer matches it.

- Shards: the manifest's own digest (`pipelines.data.manifest`), which covers every shard's name,
  count, size and sha256: nothing more is read.
- An image folder: per folder under train/ and val/, a hash of each image file's name, size and
  modification time, in sorted order (the class is the folder; a flat val/ is labelled by
  LOC_val_solution.csv, whose size and time count too). One `os.scandir` pass and one `stat` per
  file; the contents are never read (hashing ImageNet's 157 GB would take longer than an epoch).
  Per folder, so that a refusal can say where the data changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pipelines.data.manifest import MANIFEST
from pipelines.data.shards import ShardSource
from pipelines.data.source import IMAGE_SUFFIXES, VAL_SOLUTION, some_of

SPLITS = ("train", "val")


def fingerprint(root: Path | str) -> dict:
    """{"shards": digest} or {"folders": {relative folder: hash}}, for the data at `root`."""
    if os.path.lexists(Path(root) / MANIFEST):
        return {"shards": ShardSource(root).manifest["digest"]}
    hashes: dict[str, str] = {}
    solution = Path(root) / VAL_SOLUTION  # where it labels a flat val/ from the root
    if solution.is_file():
        hashes[VAL_SOLUTION] = hashlib.sha256(_stat_line(solution.name, solution.stat())).hexdigest()[:16]
    for split in SPLITS:
        _hash_tree(Path(root), split, hashes)
    return {"folders": hashes}


def _stat_line(name: str, stat: os.stat_result) -> bytes:
    return os.fsencode(name) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()


def _hash_tree(root: Path, folder: str, hashes: dict[str, str]) -> None:
    """Hash the image files (and solution files) directly in ROOT/folder, then its sub-folders in turn."""
    digest, below = hashlib.sha256(), []
    try:
        entries = sorted(os.scandir(root / folder), key=lambda entry: entry.name)
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir():
            below.append(f"{folder}/{entry.name}")
        elif entry.name == VAL_SOLUTION or Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
            digest.update(_stat_line(entry.name, entry.stat()))
    hashes[folder] = digest.hexdigest()[:16]
    for sub in below:
        _hash_tree(root, sub, hashes)


def what_changed(then: dict, now: dict) -> str | None:
    """How the data differs from the fingerprint taken before, in words, or None when it does not."""
    if then == now:
        return None
    if "shards" in then or "shards" in now:
        return "the shards were written again (their manifest's digest differs)" if "shards" in then and "shards" in \
            now else "it was an image folder and is now shards, or the other way round"
    before, after = then["folders"], now["folders"]
    changed = sorted(f for f in set(before) | set(after) if before.get(f) != after.get(f))
    return f"the files of {len(changed)} folder(s) differ in name, size or modification time: {some_of(changed)}"
