"""MNIST's idx files (gzip): `images` and `labels` arrays, their headers checked.

An idx file is a big-endian header, then the raw uint8 values: images start with the magic 2051,
the count, rows and columns (16 bytes); labels with the magic 2049 and the count (8 bytes). Every
mismatch (another magic, a count the bytes do not hold, labels that do not match the images in
number, a file that is not gzip or ends early) is one line naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from pipelines.errors import UserInputError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


class IdxError(UserInputError):
    """An idx file that is not what its name says."""


def _content(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise IdxError(f"{path} is not a complete gzip file ({error or type(error).__name__}): "
                       "fetch it again") from None


def _header(path: Path, data: bytes, magic: int, dims: int) -> tuple[int, ...]:
    size = 4 * (1 + dims)
    if len(data) < size:
        raise IdxError(f"{path} is too short for an idx header ({len(data)} bytes)")
    values = tuple(int(v) for v in np.frombuffer(data[:size], dtype=">u4"))
    if values[0] != magic:
        raise IdxError(f"{path} has idx magic {values[0]}, expected {magic}: not an idx "
                       f"{'image' if magic == IMAGES_MAGIC else 'label'} file")
    expected = size + int(np.prod(values[1:]))
    if len(data) != expected:
        raise IdxError(f"{path} holds {len(data) - size} bytes of values where its header "
                       f"{list(values[1:])} says {expected - size}")
    return values[1:]


def read_images(path: Path) -> np.ndarray:
    """(count, rows, columns) uint8."""
    data = _content(path)
    count, rows, columns = _header(path, data, IMAGES_MAGIC, 3)
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, columns)


def read_labels(path: Path, classes: int) -> np.ndarray:
    """(count,) uint8, each below `classes`."""
    data = _content(path)
    _header(path, data, LABELS_MAGIC, 1)
    labels = np.frombuffer(data, dtype=np.uint8, offset=8)
    if labels.size and int(labels.max()) >= classes:
        raise IdxError(f"{path} holds label {int(labels.max())}, but the data set has {classes} classes")
    return labels


def read_pair(images: Path, labels: Path, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A split's images and labels, checked to be as many."""
    pixels, ids = read_images(images), read_labels(labels, classes)
    if len(pixels) != len(ids):
        raise IdxError(f"{images} holds {len(pixels)} images but {labels} holds {len(ids)} labels")
    return pixels, ids
