"""Tiny archives in each real data set's format, and catalog entries that point at them (tests only)."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.data import catalog
from pipelines.registry import Entry
from pipelines.data.cifar import LAYOUTS
from pipelines.data.transfer import Remote


def idx_bytes(values: np.ndarray, magic: int) -> bytes:
    header = np.array([magic, *values.shape], dtype=">u4").tobytes()
    return gzip.compress(header + values.astype(np.uint8).tobytes())


def mnist_files(folder: Path, train: int, val: int, classes: int = 10, seed: int = 0) -> dict:
    """The four idx files of an MNIST-shaped set; returns {split: (images, labels)}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, prefix, count in (("train", "train", train), ("val", "t10k", val)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % classes
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(idx_bytes(images, 2051))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx_bytes(labels, 2049))
        arrays[split] = (images, labels)
    return arrays


def _add(tar: tarfile.TarFile, name: str | tarfile.TarInfo, data: bytes) -> None:
    """A member `name` holding `data` (or, given a TarInfo, that member as it is: a link, a special file)."""
    info = name if isinstance(name, tarfile.TarInfo) else tarfile.TarInfo(name)
    if info.isfile():
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def cifar_tgz(path: Path, kind: str, train: int, val: int, seed: int = 0) -> dict:
    """A CIFAR python tarball with `train` and `val` rows (spread over its batches); returns {split: (rows, labels)}."""
    layout = LAYOUTS[kind]
    names = catalog.CIFAR10_CLASSES if kind == "cifar10" else catalog.CIFAR100_CLASSES
    rng = np.random.default_rng(seed)
    arrays = {}
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, f"{layout.root}/{layout.meta}", pickle.dumps({layout.names_key: [n.encode() for n in names]}))
        for split, batches in layout.splits:
            count = train if split == "train" else val
            rows = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
            labels = [i % len(names) for i in range(count)]
            arrays[split] = (rows, np.array(labels))
            for part, batch in zip(np.array_split(np.arange(count), len(batches)), batches):
                content = {b"data": rows[part], layout.label_key: [labels[i] for i in part], b"batch_label": b"x"}
                _add(tar, f"{layout.root}/{batch}", pickle.dumps(content, protocol=2))
    return arrays


def jpeg(seed: int, size: tuple[int, int] = (20, 16)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG")
    return out.getvalue()


def tree_tgz(path: Path, root: str, wnids: tuple[str, ...], train: int, val: int, extra=()) -> None:
    """An Imagenette-shaped tgz: ROOT/{train,val}/<wnid>/<wnid>_<i>.JPEG, a CSV, and `extra` (name or TarInfo, bytes) members."""
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, f"{root}/noisy_imagenette.csv", b"path,is_valid\n")
        for split, per_class in (("train", train), ("val", val)):
            for c, wnid in enumerate(wnids):
                for i in range(per_class):
                    _add(tar, f"{root}/{split}/{wnid}/{wnid}_{i}.JPEG", jpeg(c * 100 + i))
        for name, data in extra:
            _add(tar, name, data)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remotes(folder: Path, names, urls=lambda name: ()) -> tuple[Remote, ...]:
    """Remotes pinning the files `folder/<name>` as they are now; `urls(name)` gives their mirrors."""
    return tuple(Remote(n, (folder / n).stat().st_size, sha256(folder / n), tuple(urls(n))) for n in names)


def register(monkeypatch, base: str, name: str, files: tuple[Remote, ...], train: int, val: int) -> catalog.DataSet:
    """A test entry `name` like the catalog's `base`, pinning `files` and counts (undone after the test)."""
    entry = replace(catalog.DATASETS[base], name=name, files=files, train=train, val=val)
    monkeypatch.setattr(catalog.DATASETS, "_entries", {**catalog.DATASETS._entries,
                                                       name: Entry(name, entry, "test")})
    return entry
