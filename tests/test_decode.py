import io
import re
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from pipelines.data import online
from pipelines.data.decode import MAX_PIXELS, UnreadableImage, decode_pil, decode_tf, read_image
from pipelines.data.shards import naming_bad_input
from pipelines.data.source import ImageFolderSource
from pipelines.data.synth import encode, render_image
from pipelines.errors import UserInputError


@pytest.fixture(scope="module")
def picture():
    return render_image(2, np.random.default_rng(5))


def tf_decode(data, size):
    import tensorflow as tf

    return decode_tf(tf.constant(data), size).numpy()


@pytest.mark.parametrize("fmt", ["cmyk", "grayscale", "png"])
@pytest.mark.parametrize("decoder", [decode_pil, tf_decode], ids=["pil", "tf"])
def test_odd_formats_decode_to_rgb(picture, fmt, decoder):
    expected = decode_pil(encode(picture, None), 48).astype(int)
    if fmt == "grayscale":
        expected = np.repeat(np.asarray(Image.fromarray(expected.astype(np.uint8)).convert("L"))[..., None], 3, -1)
    image = decoder(encode(picture, fmt), 48)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - expected).mean() < 6


def test_pil_and_tf_agree_up_to_rounding(picture):
    data = encode(picture, None)
    assert np.abs(decode_pil(data, 96).astype(int) - tf_decode(data, 96).astype(int)).mean() < 3


def test_not_an_image_raises():
    with pytest.raises(Exception):
        decode_pil(b"<html>gone</html>", 32)
    with pytest.raises(Exception):
        tf_decode(b"<html>gone</html>", 32)


# ---- the formats the two decoders must agree on ---------------------------------------------------

def saved(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def sixteen_bit_png(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG (PIL writes none but grayscale) holding `pixels` (uint8, HxWxC) at full 16-bit scale."""
    import tensorflow as tf

    return tf.io.encode_png(pixels.astype(np.uint16) * 257).numpy()


def with_alpha(pixels: np.ndarray) -> np.ndarray:
    return np.concatenate([pixels, np.linspace(0, 255, pixels.shape[1], dtype=np.uint8)[None, :, None]
                           .repeat(len(pixels), 0)], -1)


def cmyk_with_black(rgb: np.ndarray) -> Image.Image:
    """CMYK with a black channel (PIL's own RGB->CMYK leaves K at 0, which hides how K is applied)."""
    k = np.clip(255 - rgb.max(-1, keepdims=True).astype(int) - 20, 0, 255)
    cmy = np.clip(255 - rgb.astype(int) - k, 0, 255)
    return Image.fromarray(np.concatenate([cmy, k], -1).astype(np.uint8), "CMYK")


def rotated_by_exif(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return saved(image, "JPEG", quality=95, exif=exif.tobytes())


def odd_file(kind: str, picture: Image.Image) -> tuple[bytes, Image.Image]:
    """(the encoded file, the 8-bit RGB picture both decoders should see in it)."""
    rgb = np.asarray(picture)
    gray = np.asarray(picture.convert("L"))[..., None]
    palette = picture.quantize(64)
    return {
        "16-bit grayscale PNG": lambda: (sixteen_bit_png(gray), picture.convert("L")),
        "16-bit grayscale+alpha PNG": lambda: (sixteen_bit_png(with_alpha(gray)), picture.convert("L")),
        "16-bit RGB PNG": lambda: (sixteen_bit_png(rgb), picture),
        "16-bit RGBA PNG": lambda: (sixteen_bit_png(with_alpha(rgb)), picture),
        "palette PNG": lambda: (saved(palette), palette),
        "palette PNG with transparency": lambda: (saved(palette, transparency=bytes(range(0, 256, 4))), palette),
        "LA PNG": lambda: (saved(Image.fromarray(with_alpha(gray), "LA")), picture.convert("L")),
        "RGBA PNG": lambda: (saved(Image.fromarray(with_alpha(rgb), "RGBA")), picture),
        "CMYK JPEG": lambda: (saved(cmyk_with_black(rgb), "JPEG", quality=95), cmyk_with_black(rgb)),
        "EXIF-rotated JPEG": lambda: (rotated_by_exif(picture), picture),  # stored pixels: never rotated
    }[kind]()


ODD_KINDS = ["16-bit grayscale PNG", "16-bit grayscale+alpha PNG", "16-bit RGB PNG", "16-bit RGBA PNG",
             "palette PNG", "palette PNG with transparency", "LA PNG", "RGBA PNG", "CMYK JPEG",
             "EXIF-rotated JPEG"]


@pytest.mark.parametrize("kind", ODD_KINDS)
def test_pil_and_tf_decode_odd_files_to_the_same_pixels(picture, kind):
    data, looks_like = odd_file(kind, picture)
    expected = decode_pil(saved(looks_like.convert("RGB")), 48).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor does PIL warn about any of them
        pil = decode_pil(data, 48).astype(int)
    tf = tf_decode(data, 48).astype(int)
    assert pil.shape == tf.shape == (48, 48, 3)
    assert np.abs(pil - tf).mean() < 3
    assert np.abs(pil - expected).mean() < 3, f"PIL decodes to a mean of {pil.mean():.1f}, not {expected.mean():.1f}"


def test_a_16_bit_png_keeps_the_high_byte_as_tensorflow_does():
    import tensorflow as tf

    every_value = np.arange(65536, dtype=np.uint16).reshape(256, 256, 1)
    data = tf.io.encode_png(every_value).numpy()
    high_byte = np.repeat(every_value >> 8, 3, -1).astype(np.uint8)
    np.testing.assert_array_equal(decode_pil(data, 256), high_byte)
    np.testing.assert_array_equal(tf_decode(data, 256), high_byte)


# ---- decompression bombs: refused from the header, before a pixel is decoded ----------------------

def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid 1-bit black PNG: tens of kilobytes on disk, width x height pixels decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = zlib.compress(bytes((1 + (width + 7) // 8) * height), 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def header_bomb(fmt: str) -> bytes:
    """A small image whose header says 20000 x 20000 (a bomb, to a decoder that trusts it)."""
    data = bytearray(saved(Image.new("RGB", (8, 8)), fmt))
    if fmt == "JPEG":
        start = data.index(b"\xff\xc0") + 5  # baseline SOF: height, width (big-endian 16 bits)
        data[start:start + 4] = struct.pack(">HH", 20000, 20000)
    elif fmt == "GIF":
        data[6:10] = struct.pack("<HH", 20000, 20000)  # the logical screen
    else:
        data[18:26] = struct.pack("<ii", 20000, -20000)  # BMP: negative height, stored top-down
    return bytes(data)


BOMBS = {"PNG of 20000 x 20000": lambda: png_bomb(20000, 20000),
         "PNG of 10000 x 10000 (PIL only warns)": lambda: png_bomb(10000, 10000),
         "JPEG": lambda: header_bomb("JPEG"), "GIF": lambda: header_bomb("GIF"), "BMP": lambda: header_bomb("BMP")}
REFUSAL = f"more than the {MAX_PIXELS:,} this harness decodes \\(a decompression bomb\\?\\)"


@pytest.fixture(scope="module", params=list(BOMBS))
def bomb(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(BOMBS[request.param]())
    return path


def test_a_bomb_is_refused_by_pil_quickly_and_without_a_warning(bomb):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnreadableImage, match=f"^{re.escape(str(bomb))}: [0-9]+ pixels is {REFUSAL}$"):
            read_image(str(bomb), 32)
    assert time.perf_counter() - started < 0.5


def test_a_bomb_is_refused_by_tensorflow_quickly(bomb):
    import tensorflow as tf

    tf_decode(png_bomb(8, 8), 32)  # TensorFlow's own start-up is not the refusal's
    started = time.perf_counter()
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"[0-9]+ pixels is {REFUSAL}"):
        tf_decode(bomb.read_bytes(), 32)
    assert time.perf_counter() - started < 0.5


# ---- the pipelines: the same pixels, and a bomb named in one line ---------------------------------

def image_folder(root, files: dict[str, bytes]) -> ImageFolderSource:
    """An ImageNet-layout folder holding `files` (name: bytes) in train/, one class each."""
    for number, (name, data) in enumerate(files.items()):
        folder = root / "train" / f"n{number:08d}"
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
    return ImageFolderSource(root)


def first_batch(name: str, source: ImageFolderSource, size: int = 32):
    spec = online.PipelineSpec(size, 2, shuffle=False, workers=1)
    return np.asarray(next(iter(online.build(name, source.split("train"), spec)))[0]).astype(int)


PIPELINES = ["naive", "processes", "parallel"]


def test_pipelines_decode_a_16_bit_png_to_the_same_pixels(picture, tmp_path):
    data, looks_like = odd_file("16-bit RGB PNG", picture)
    source = image_folder(tmp_path, {"deep.png": data, "plain.png": saved(looks_like)})
    batches = {name: first_batch(name, source) for name in PIPELINES}
    for name, images in batches.items():
        assert np.abs(images[0] - images[1]).mean() < 1, f"{name}: 16 bits decode unlike 8"
        assert np.abs(images - batches["parallel"]).mean() < 3, name


@pytest.mark.parametrize("name", [*PIPELINES, "vectorized"])
def test_a_bomb_in_a_folder_ends_a_pipeline_in_one_line_naming_it(picture, tmp_path, name):
    source = image_folder(tmp_path, {"fine.JPEG": encode(picture, None), "bomb.png": png_bomb(20000, 20000)})
    bomb = next(tmp_path.rglob("bomb.png"))
    with pytest.raises(UserInputError) as refused:
        with naming_bad_input(source, "train"):
            first_batch(name, source)
    assert "\n" not in str(refused.value)  # TensorFlow's wrapping is cut away, the file and the reason kept
    assert re.search(f"{re.escape(str(bomb))}: 400000000 pixels is {REFUSAL}", str(refused.value))
