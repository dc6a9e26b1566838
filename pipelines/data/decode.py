"""Image bytes to a square RGB uint8 array, with PIL or with TensorFlow.

ImageNet hides CMYK JPEGs, grayscale JPEGs and PNG bytes behind `.JPEG` names; both decoders turn
each of them into three channels. Both resize the whole image to size x size (no crop) with
antialiased bilinear filtering, so their outputs agree up to rounding.

`read_image` is what every PIL pipeline does per example (the naive generator, the decode workers,
the decode ceiling without TensorFlow); a file it cannot read or decode raises `UnreadableImage`, a
ValueError, so that inside a tf.data generator TensorFlow turns it into the InvalidArgumentError
its own decoder raises, and one handler (`shards.naming_bad_input`) catches both.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError


def decode_pil(data: bytes, size: int) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        return np.asarray(rgb.resize((size, size), Image.BILINEAR), dtype=np.uint8)


class UnreadableImage(ValueError):
    """A file that cannot be read or decoded: the message names it (`path`) and says why (`reason`)."""

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_image(path: str, size: int) -> np.ndarray:
    """The file at `path` decoded with PIL and resized to size x size."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise UnreadableImage(path, f"cannot read: {error.strerror}") from error
    try:
        return decode_pil(data, size)
    except Exception as error:
        raise UnreadableImage(path, decode_problem(error)) from error


def decode_problem(error: Exception) -> str:
    """A short reason for a file PIL could not decode, fit for a manifest."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image"
    return f"broken image: {error}"  # PIL reports damaged data as OSError, SyntaxError, ValueError, ...


def decode_tf(data, size: int):
    """Graph-friendly twin of `decode_pil`: `data` is a scalar string tensor."""
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    resized = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
