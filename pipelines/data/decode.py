"""Image bytes to a square RGB uint8 array, with PIL or with TensorFlow, to the same pixels.

ImageNet hides CMYK JPEGs, grayscale JPEGs and PNG bytes behind `.JPEG` names; both decoders turn
each of them into three 8-bit channels the same way, which is TensorFlow's (tf.io.decode_image with
channels=3), so that a pipeline's pixels do not depend on its decoder:
- 16-bit PNGs keep the high byte of each value (libpng's strip-16, what TensorFlow asks for): PIL
  does so itself for 16-bit RGB(A) and grayscale+alpha, and is made to for 16-bit grayscale, which
  its convert("RGB") would clip to white;
- alpha (RGBA, LA, a palette's or a colour's tRNS transparency) is dropped, never composited;
- CMYK JPEGs (Adobe's inverted ones too): both multiply out the black channel, up to rounding;
- EXIF orientation is ignored: the pixels as stored, as tf.io and torchvision's default loader read
  them, never rotated.
Both resize the whole image to size x size (no crop) with antialiased bilinear filtering, so their
outputs agree up to rounding (and up to TensorFlow's faster, coarser JPEG IDCT).

Neither decodes an image of more than MAX_PIXELS: the size is read from the header first, and a
larger image (a decompression bomb: a small file that decodes to gigabytes) is refused with the
same reason, `TOO_MANY`, by both.

`read_image` is what every PIL pipeline does per example (the naive generator, the decode workers,
the decode ceiling without TensorFlow); a file it cannot read or decode raises `UnreadableImage`, a
ValueError, so that inside a tf.data generator TensorFlow turns it into the InvalidArgumentError
its own decoder raises, and one handler (`shards.naming_bad_input`) catches both.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 89_478_485  # PIL's own default Image.MAX_IMAGE_PIXELS: 256 MiB of RGB pixels
TOO_MANY = f"pixels is more than the {MAX_PIXELS:,} this harness decodes (a decompression bomb?)"


class TooManyPixels(ValueError):
    """An image refused from its header alone, before a pixel of it is decoded."""

    def __init__(self, pixels: int):
        super().__init__(f"{pixels} {TOO_MANY}")


def decode_pil(data: bytes, size: int) -> np.ndarray:
    """The image in `data` as size x size RGB uint8; TooManyPixels, before decoding, for a bomb."""
    with open_image(data) as image:
        rgb = _rgb(image)
        return np.asarray(rgb.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def open_image(data: bytes) -> Image.Image:
    """`data` opened by PIL, which reads the header only; TooManyPixels if it has more than MAX_PIXELS.

    PIL checks the size itself, against its own Image.MAX_IMAGE_PIXELS: above it, a warning (ours
    refuses them all, so none is shown), above twice it an error that says only the pixel count."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as error:
            raise TooManyPixels(int(re.search(r"\((\d+) pixels\)", str(error))[1])) from None
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise TooManyPixels(image.width * image.height)
    return image


def _rgb(image: Image.Image) -> Image.Image:
    """Three 8-bit channels as TensorFlow makes them (see above). Transparency goes before converting:
    it would only make alpha, which both drop (and PIL warn about a palette's, given as bytes)."""
    image.info.pop("transparency", None)
    if image.mode.startswith("I"):  # 16-bit grayscale: "I;16*" (PNG, TIFF), "I" (PGM; older PIL's PNG)
        image = Image.fromarray(np.clip(np.asarray(image) >> 8, 0, 255).astype(np.uint8))
    return image.convert("RGB")


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
    if isinstance(error, TooManyPixels):
        return str(error)
    return f"broken image: {error}"  # PIL reports damaged data as OSError, SyntaxError, ValueError, ...


def decode_tf(data, size: int, path=None):
    """Graph-friendly twin of `decode_pil`: `data` is a scalar string tensor, `path` (optional, another)
    names the file in a refusal. Too many pixels: InvalidArgumentError, raised before decoding."""
    import tensorflow as tf

    with tf.control_dependencies([_refuse_bombs_tf(data, path)]):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    resized = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


# Where the headers of the other formats tf.io.decode_image reads keep the width, then the height
# (JPEG's may be anywhere: tf.image.extract_jpeg_shape finds it): (magic, offset, type, little-endian)
_HEADERS = (
    (b"\x89PNG\r\n\x1a\n", 16, "int32", False),  # IHDR (uint32 below 2**31; decode_raw has no uint32)
    (b"GIF", 6, "uint16", True),  # the logical screen
    (b"BM", 18, "int32", True),  # BITMAPINFOHEADER: a negative height is a top-down image
)


def _refuse_bombs_tf(data, path):
    """An assertion that the header of `data` promises at most MAX_PIXELS: a few tiny string ops."""
    import tensorflow as tf

    pixels = _pixels_tf(data)
    reason = tf.strings.join([tf.strings.as_string(pixels, precision=0), TOO_MANY], " ")
    if path is not None:
        reason = tf.strings.join([path, reason], ": ")
    return tf.debugging.Assert(pixels <= MAX_PIXELS, [reason])


def _pixels_tf(data):
    """Width x height (float64: no overflow) as the header of `data` says; 0 for anything else,
    which tf.io.decode_image refuses in its own words (a file too short to hold its header, too)."""
    import tensorflow as tf

    def header(magic: bytes, offset: int, dtype: str, little_endian: bool):
        """(whether `data` is of this format and holds the header, a function giving its pixels)."""
        nbytes = 2 * tf.dtypes.as_dtype(dtype).size

        def pixels():
            size = tf.io.decode_raw(tf.strings.substr(data, offset, nbytes), dtype, little_endian=little_endian)
            return tf.abs(tf.reduce_prod(tf.cast(size, tf.float64)))

        return (tf.strings.substr(data, 0, len(magic)) == magic) & (tf.strings.length(data) >= offset + nbytes), pixels

    def jpeg():
        return tf.reduce_prod(tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.float64))

    return tf.case([(tf.io.is_jpeg(data), jpeg), *(header(*entry) for entry in _HEADERS)],
                   default=lambda: tf.constant(0, tf.float64))
