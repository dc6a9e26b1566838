"""Turn a data set's verified archives into the folder layout the harness reads.

`OUT/train/<class>/<name>.png|.JPEG` and `OUT/val/<class>/...`: the loaders take a folder of class
folders per split and number the classes in sorted order of their folder names. The array formats
(MNIST's idx files, CIFAR's pickles) become PNG files named by their index in the source split, in
class folders `<label>-<name>` with the label zero-padded, so that sorted order is label order
(`0-airplane`, `00-apple`; MNIST's digits are their own names: `0` .. `9`). The tarballs that already
hold that layout (Imagenette, Imagewoof: wnid folders) are extracted as they are.

Each unpacker is `unpack(entry, files, dest, progress) -> {split: {class folder: images}}`, where
`files` maps each catalog file name to its verified path; it writes into `dest`, which the caller
made and renames into place when the whole data set is there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pipelines.data import cifar, idx, png, safe_tar
from pipelines.data.source import IMAGE_SUFFIXES
from pipelines.engines import EngineSettings, map_tasks
from pipelines.errors import UserInputError
from pipelines.registry import Registry

Counts = dict[str, dict[str, int]]
Progress = Callable[[int, int], None]
CHUNK = 2500  # images per pool task: big enough to amortize its pickling, small enough to spread


def class_folders(names: tuple[str, ...]) -> tuple[str, ...]:
    """`<label>-<name>`, the label zero-padded to sort as a number; a name that is its label stays bare."""
    width = len(str(len(names) - 1))
    folders = []
    for label, name in enumerate(names):
        slug = re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-")
        folders.append(slug if slug == str(label) and width == 1 else f"{label:0{width}d}-{slug}")
    return tuple(folders)


@dataclass(frozen=True)
class PngChunk:
    """A pool task: images `start..` of one split, written as `<dest>/<split>/<folder of label>/<index>.png`."""

    split_dir: str
    folders: tuple[str, ...]
    start: int
    width: int
    images: np.ndarray
    labels: np.ndarray


def write_chunk(task: PngChunk) -> int:
    for offset, (image, label) in enumerate(zip(task.images, task.labels)):
        name = f"{task.start + offset:0{task.width}d}.png"
        with open(os.path.join(task.split_dir, task.folders[label], name), "wb") as handle:
            handle.write(png.encode(image))
    return len(task.images)


def write_arrays(dest: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], names: tuple[str, ...],
                 progress: Progress | None, workers: int | None = None) -> Counts:
    """Every image of every split as a PNG file, on a local process pool; returns the counts."""
    folders = class_folders(names)
    tasks, counts = [], {}
    for split, (images, labels) in splits.items():
        per_class = np.bincount(labels, minlength=len(names))
        for folder in (f for f, n in zip(folders, per_class) if n):  # an empty class folder is an error to a reader
            (dest / split / folder).mkdir(parents=True, exist_ok=True)
        width = len(str(max(len(images) - 1, 0)))
        tasks += [PngChunk(str(dest / split), folders, start, width, images[start:start + CHUNK],
                           labels[start:start + CHUNK]) for start in range(0, len(images), CHUNK)]
        counts[split] = {folder: int(n) for folder, n in zip(folders, per_class) if n}
    total = sum(len(t.images) for t in tasks)
    sizes = [len(t.images) for t in tasks]
    report = (lambda done, _: progress(sum(sizes[:done]), total)) if progress else None
    map_tasks(write_chunk, tasks, EngineSettings(engine="local", workers=workers), report)
    return counts


def _idx(entry, files: dict[str, Path], dest: Path, progress: Progress | None) -> Counts:
    splits = {split: idx.read_pair(files[f"{prefix}-images-idx3-ubyte.gz"], files[f"{prefix}-labels-idx1-ubyte.gz"],
                                   len(entry.classes))
              for split, prefix in (("train", "train"), ("val", "t10k"))}
    return write_arrays(dest, splits, entry.classes, progress)


def _cifar(entry, files: dict[str, Path], dest: Path, progress: Progress | None) -> Counts:
    (archive,) = files.values()
    names, splits = cifar.read(archive, entry.unpacker)
    if names != entry.classes:
        raise UserInputError(f"{archive} names its classes {names[:3]}..., not the catalog's {entry.classes[:3]}...: "
                             "not the expected archive")
    return write_arrays(dest, splits, names, progress)


def _tree(entry, files: dict[str, Path], dest: Path, progress: Progress | None) -> Counts:
    """A tarball of `ROOT/{train,val}/<wnid>/*.JPEG`: extracted, its class folders checked against the catalog."""
    (archive,) = files.values()
    total = entry.train + entry.val
    safe_tar.extract(archive, entry.root, dest, (lambda done: progress(done, total)) if progress else None)
    counts: Counts = {}
    for split in safe_tar.SPLITS:
        counts[split] = {}
        for folder in sorted(p for p in (dest / split).iterdir()):
            if not folder.is_dir() or folder.name not in entry.folders:
                raise UserInputError(f"{archive}: {entry.root}/{split}/{folder.name} is not one of the catalog's "
                                     f"classes of {entry.name}: not the expected archive")
            counts[split][folder.name] = sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return counts


UNPACKERS: Registry[Callable] = Registry("unpacker")
UNPACKERS.add("idx-gzip", _idx, "MNIST's gzipped idx files -> PNG class folders")
UNPACKERS.add("cifar10", _cifar, "CIFAR-10's pickled batches in a tar.gz -> PNG class folders")
UNPACKERS.add("cifar100", _cifar, "CIFAR-100's pickled batches (fine labels) in a tar.gz -> PNG class folders")
UNPACKERS.add("image-tree", _tree, "a tarball already in ROOT/{train,val}/<wnid>/ layout, extracted safely")
