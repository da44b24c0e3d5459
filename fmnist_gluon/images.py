"""Your own pictures as Fashion-MNIST inputs: any PNG/JPEG -> a 28x28 grey uint8 image.

Fashion-MNIST was made from product photos on a white background (Xiao et al., 2017): trimmed
to the object, the longest side resized to 28 pixels, centred on a 28x28 canvas, converted to
grey and negated, so the objects are light on black. ``load_image`` does the same steps:

1. read the file with Pillow (installed with matplotlib) and convert it to grey (``"L"``;
   transparent pixels become white, i.e. background);
2. invert it when the background is light: when the median of the border pixels is above 127,
   as for a photo on white, every pixel becomes ``255 - value``;
3. trim to the bounding box of the pixels brighter than ``TRIM_LEVEL`` (the object);
4. resize the longest side to 28 keeping the aspect ratio (Lanczos), and pad the other side
   with black to 28, centred.

The result is what the network saw in training: a light object on a black square.
"""
import numpy as np

__all__ = ["load_image", "load_images", "prepare_image", "HOW"]

SIZE = 28
TRIM_LEVEL = 24  # pixels at or below this (on the dark side) count as background when trimming
HOW = ("images are converted like Fashion-MNIST: grey; inverted when the border is light "
       "(Fashion-MNIST objects are light on black); trimmed to the object; the longest side "
       "resized to 28 keeping the aspect ratio and the other padded with black to 28x28")


class ImageError(ValueError):
    """An image file that cannot be read or used (the message names the file)."""


def _read_grey(path):
    """The file as a 2-D grey uint8 array; transparent pixels become white (background)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA", "P") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)
            return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise ImageError("%s: no such file" % path) from None
    except IsADirectoryError:
        raise ImageError("%s is a folder; give image files (PNG or JPEG)" % path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError("%s: not a readable image (%s); give a PNG or JPEG file"
                         % (path, exc)) from None


def prepare_image(grey):
    """A 28x28 uint8 array from a 2-D grey array (0..255): the steps of the module docstring.

    Invert when the median border pixel is above 127 (a light background), trim to the pixels
    brighter than ``TRIM_LEVEL``, resize the longest side to 28 (Lanczos) and pad to a square.
    """
    from PIL import Image

    x = np.asarray(grey)
    if x.ndim != 2 or x.size == 0:
        raise ImageError("expected a non-empty 2-D grey image, got shape %s" % (x.shape,))
    x = np.clip(x, 0, 255).astype(np.uint8)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    if np.median(border) > 127:
        x = 255 - x
    mask = x > TRIM_LEVEL
    if mask.any():
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        x = x[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = x.shape
    scale = SIZE / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = np.asarray(Image.fromarray(x).resize((new_w, new_h), Image.LANCZOS))
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    top, left = (SIZE - new_h) // 2, (SIZE - new_w) // 2
    out[top:top + new_h, left:left + new_w] = small
    return out


def load_image(path):
    """Read a PNG/JPEG (any size, colour or grey) as a 28x28 uint8 Fashion-MNIST-like image."""
    return prepare_image(_read_grey(path))


def load_images(paths):
    """``load_image`` for every path: an N x 28 x 28 uint8 array."""
    paths = list(paths)
    if not paths:
        raise ImageError("no image files given")
    return np.stack([load_image(p) for p in paths])
