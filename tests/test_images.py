"""Image files -> 28x28 Fashion-MNIST-like inputs: grey, inverted when light, trimmed, padded."""
import numpy as np
import pytest
from PIL import Image

from fmnist_gluon.images import ImageError, load_image, load_images, prepare_image


def test_a_fashion_mnist_like_image_is_unchanged():
    x = np.zeros((28, 28), np.uint8)
    x[0:28, 7:21] = np.arange(100, 240, 10, dtype=np.uint8)  # full height, centred already
    np.testing.assert_array_equal(prepare_image(x), x)


def test_dark_on_light_is_inverted_trimmed_resized_and_centred():
    photo = np.full((300, 200), 255, np.uint8)  # white background
    photo[50:250, 75:125] = 0                   # a black bar, 200 high and 50 wide
    out = prepare_image(photo)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    rows, cols = np.flatnonzero(out.max(1) > 128), np.flatnonzero(out.max(0) > 128)
    assert (rows[0], rows[-1]) == (0, 27)        # longest side -> 28
    assert len(cols) == 7 and cols[0] == 10      # 200:50 keeps 4:1 -> 7 wide, centred
    assert out[:, :9].max() == 0 and out[:, 19:].max() == 0  # black padding
    assert out[5:23, 11:16].min() > 240          # the bar is light now


def test_light_on_dark_is_not_inverted():
    x = np.zeros((40, 40), np.uint8)
    x[10:30, 15:25] = 200                        # 20 high, 10 wide: 28 x 14 once resized
    out = prepare_image(x)
    assert out[:, 7:21].min() == 200 and out.max() == 200
    assert out[:, :7].max() == 0 and out[:, 21:].max() == 0


def test_files_of_any_size_and_mode(tmp_path):
    rgb = np.full((90, 160, 3), 250, np.uint8)
    rgb[20:70, 40:120] = (30, 60, 200)           # a blue rectangle on white
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    rgba = np.zeros((64, 64, 4), np.uint8)       # transparent background, opaque black square
    rgba[16:48, 16:48] = (0, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "b.png")
    Image.fromarray(np.full((10, 10), 7, np.uint8)).save(tmp_path / "c.png")
    batch = load_images([tmp_path / "a.jpg", tmp_path / "b.png", tmp_path / "c.png"])
    assert batch.shape == (3, 28, 28) and batch.dtype == np.uint8
    a, b, _ = batch
    assert a[14, 14] > 150 and a[0, 0] == 0       # inverted: a light object on black
    assert a[2:26, :].max() > 150 and a[:4].max() < 30  # 80x50 -> 28x18, padded above and below
    assert b.min() > 240                         # the square fills the frame once trimmed
    np.testing.assert_array_equal(load_image(tmp_path / "b.png"), b)


@pytest.mark.parametrize("make, fragment", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_text("not an image"), "not a readable image"),
    (lambda p: p.mkdir(), "is a folder"),
])
def test_bad_files_are_named(tmp_path, make, fragment):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(ImageError, match=fragment) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_no_files():
    with pytest.raises(ImageError, match="no image files"):
        load_images([])
