
import numpy as np
import pytest
from PIL import Image

from pipelines.data.decode import decode_pil, decode_tf
from pipelines.data.synth import encode, render_image


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
