"""TFRecord files of tf.train.Example records, written without TensorFlow.

The preprocessing workers (the local pool's processes, Spark's Python workers) decode and resize with
PIL; importing TensorFlow only to frame what they write cost each of them 4-5 s of CPU at start and
about half a gigabyte of memory. Both formats are small and fixed:

- a TFRecord file is a sequence of records, each its length (uint64, little-endian), the masked
  CRC-32C of those 8 bytes (uint32), the data, and the masked CRC-32C of the data
  (tensorflow/core/lib/io/record_writer.cc); uncompressed, as `tf.io.TFRecordWriter` writes by default;
- tf.train.Example is a protobuf, Example{features = 1: Features{feature = 1: map<string, Feature>}},
  each Feature here a BytesList (field 1) or an Int64List (field 3) of one value (field 1, int64s
  packed) (tensorflow/core/example/example.proto and feature.proto).

TensorFlow reads them back with `tf.data.TFRecordDataset`, which checks both CRCs, and
`tf.io.parse_example`; tests/test_preprocess.py holds them to TensorFlow's own writer.
"""

from __future__ import annotations

import struct

import google_crc32c

_MASK_DELTA = 0xA282EAD8  # TensorFlow's crc32c::Mask
_UINT32, _UINT64 = (1 << 32) - 1, (1 << 64) - 1


def masked_crc(data: bytes) -> bytes:
    """The CRC-32C of `data`, masked as TFRecord stores it: rotated right by 15 bits, plus a constant."""
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _UINT32)


def record(data: bytes) -> bytes:
    """One TFRecord: the framed `data`."""
    length = struct.pack("<Q", len(data))
    return length + masked_crc(length) + data + masked_crc(data)


def example(features: dict[str, bytes | int]) -> bytes:
    """A serialized tf.train.Example: a bytes value as a BytesList, an int as an Int64List."""
    entries = b"".join(_field(1, _field(1, name.encode()) + _field(2, _feature(value)))
                       for name, value in features.items())
    return _field(1, entries)


def _feature(value: bytes | int) -> bytes:
    if isinstance(value, bytes):
        return _field(1, _field(1, value))
    return _field(3, _field(1, _varint(value)))


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    """A protobuf varint; a negative int64 as its 64-bit two's complement."""
    value &= _UINT64
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
