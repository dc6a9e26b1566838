"""CIFAR-10 and CIFAR-100 from their python tarballs: images (N, 32, 32, 3) uint8, labels, class names.

Each batch is a pickled dict whose `data` rows are 3072 uint8 values, channel first (1,024 red, then
green, then blue, each row-major), so a row reshapes to (3, 32, 32) and transposes to height, width,
channel. The pickles are read with an unpickler that builds numpy arrays and nothing else: even a
verified archive should not run code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.errors import UserInputError

_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}


@dataclass(frozen=True)
class Layout:
    """Where one CIFAR tarball keeps its batches, and under which keys."""

    root: str
    splits: tuple[tuple[str, tuple[str, ...]], ...]  # (split, member names) in order
    meta: str
    label_key: bytes
    names_key: bytes


CIFAR10 = Layout("cifar-10-batches-py", (("train", tuple(f"data_batch_{i}" for i in range(1, 6))),
                                         ("val", ("test_batch",))), "batches.meta", b"labels", b"label_names")
CIFAR100 = Layout("cifar-100-python", (("train", ("train",)), ("val", ("test",))), "meta", b"fine_labels",
                  b"fine_label_names")
LAYOUTS = {"cifar10": CIFAR10, "cifar100": CIFAR100}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _members(archive: Path, layout: Layout) -> dict[str, bytes]:
    """The bytes of the members `layout` names, read in one pass over the (gzip) stream."""
    wanted = {f"{layout.root}/{name}" for _, names in layout.splits for name in names} | {f"{layout.root}/{layout.meta}"}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise UserInputError(f"{archive} is not a complete tar.gz archive ({error or type(error).__name__}): "
                             "fetch it again") from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise UserInputError(f"{archive} lacks {', '.join(missing)}: not the CIFAR python archive")
    return found


def _unpickled(archive: Path, name: str, data: bytes) -> dict:
    try:
        value = _ArraysOnly(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:  # any malformed pickle: a damaged or foreign archive
        raise UserInputError(f"{archive}: member {name} is not a CIFAR batch ({error})") from None
    if not isinstance(value, dict):
        raise UserInputError(f"{archive}: member {name} is not a CIFAR batch (a {type(value).__name__})")
    return value


def _batch(archive: Path, name: str, batch: dict, layout: Layout, classes: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        rows = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[layout.label_key], dtype=np.int64)
    except (KeyError, ValueError, TypeError) as error:
        raise UserInputError(f"{archive}: member {name} lacks data or {layout.label_key.decode()} ({error})") from None
    if rows.ndim != 2 or rows.shape[1] != 3072 or labels.shape != (len(rows),):
        raise UserInputError(f"{archive}: member {name} holds data {rows.shape} and {labels.shape} labels, "
                             "expected (N, 3072) and N")
    if labels.size and not 0 <= labels.min() <= labels.max() < classes:
        raise UserInputError(f"{archive}: member {name} holds labels outside 0..{classes - 1}")
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read(archive: Path, kind: str) -> tuple[tuple[str, ...], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(class names in label order, {split: (images NHWC uint8, labels)}) of a CIFAR python tarball."""
    layout = LAYOUTS[kind]
    members = _members(archive, layout)
    meta_name = f"{layout.root}/{layout.meta}"
    names = _unpickled(archive, meta_name, members[meta_name]).get(layout.names_key)
    if not isinstance(names, list) or not names:
        raise UserInputError(f"{archive}: member {meta_name} lacks {layout.names_key.decode()}")
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    splits = {}
    for split, batch_names in layout.splits:
        parts = [_batch(archive, f"{layout.root}/{b}", _unpickled(archive, b, members[f"{layout.root}/{b}"]),
                        layout, len(names)) for b in batch_names]
        splits[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return names, splits
