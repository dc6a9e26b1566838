"""PNG bytes of a uint8 array, written directly: twice as fast as PIL for the 60,000 tiny images of CIFAR.

A grayscale (H, W) or RGB (H, W, 3) image becomes one IHDR, one IDAT (each row behind filter byte 0,
deflated at level 1) and IEND. A 28x28 or 32x32 image fills less than one 4 KiB disk block either way,
so stronger compression would buy no disk space, only time.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_COLOUR_TYPES = {1: 0, 3: 2}  # channels -> PNG colour type: grayscale, truecolour


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode(image: np.ndarray) -> bytes:
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = np.ascontiguousarray(image, dtype=np.uint8).reshape(height, width * channels)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 1)) + \
        _chunk(b"IEND", b"")
