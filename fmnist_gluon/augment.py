"""Batch-wise, seeded augmentations (``RandomFlip``, ``RandomCrop``, ``RandomErasing``,
``Compose``) and ``make_augment``, which names them as data (``"flip,crop4"``).
"""
import math
import numbers
import re

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .validation import check_non_negative_int, check_probability, did_you_mean

__all__ = ["RandomFlip", "RandomCrop", "RandomErasing", "Compose", "make_augment"]


# --------------------------------------------------------------------------------------------
# Augmentation (batch-wise, vectorised, seeded)
# --------------------------------------------------------------------------------------------
# gluon's transforms.RandomFlipLeftRight and gluoncv's RandomCrop / RandomErasing work on one
# H×W×C image at a time and draw from global random state, so a per-image Python loop over
# 60,000 images each epoch would be needed and the result could not be tied to (seed, epoch).
# These classes do the same operations on a whole N×C×H×W batch with numpy and take the rng.

def _check_batch(x):
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError("augmentations take an N×C×H×W numpy batch, got %s"
                         % (getattr(x, "shape", type(x).__name__),))


def _as_rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_prob(p, what="p"):
    return check_probability(p, what)


class RandomFlip:
    """Mirror each image left-right with probability ``p`` (like RandomFlipLeftRight, batch-wise)."""

    def __init__(self, p=0.5):
        self.p = _check_prob(p)

    def __call__(self, x, rng=None):
        _check_batch(x)
        flip = _as_rng(rng).random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out

    def __repr__(self):
        return "RandomFlip(p=%g)" % self.p


class RandomCrop:
    """Pad each side by ``padding`` pixels of ``fill`` and crop back to the original size at a
    random offset per image (a shift of up to ``padding`` pixels each way), like gluoncv's
    ``RandomCrop(size, pad)`` but on a whole batch."""

    def __init__(self, padding=4, fill=0):
        self.padding, self.fill = check_non_negative_int(padding, "padding"), fill

    def __call__(self, x, rng=None):
        _check_batch(x)
        rng = _as_rng(rng)
        p = self.padding
        n, c, h, w = x.shape
        dy = rng.integers(0, 2 * p + 1, size=n)
        dx = rng.integers(0, 2 * p + 1, size=n)
        if p == 0:
            return x.copy()
        padded = np.full((n, c, h + 2 * p, w + 2 * p), self.fill, dtype=x.dtype)
        padded[:, :, p:p + h, p:p + w] = x
        # every crop position as a view (n, c, dy, dx, h, w); pick one position per image
        s = padded.strides
        windows = as_strided(padded, shape=(n, c, 2 * p + 1, 2 * p + 1, h, w),
                             strides=(s[0], s[1], s[2], s[3], s[2], s[3]), writeable=False)
        return windows[np.arange(n), :, dy, dx]

    def __repr__(self):
        return "RandomCrop(padding=%d)" % self.padding


class RandomErasing:
    """With probability ``p`` per image, fill one random rectangle (area ``s_min``..``s_max`` of
    the image, aspect ratio ``ratio``..``1/ratio``) with ``value``: a number in the batch's own
    units, or ``"random"`` for uniform noise (0..255 for uint8, 0..1 for floats), as in Zhong et
    al., "Random Erasing Data Augmentation". Parameter names follow gluoncv's ``RandomErasing``;
    a rectangle larger than the image is clipped to it instead of redrawn."""

    def __init__(self, p=0.5, s_min=0.02, s_max=0.4, ratio=0.3, value="random"):
        self.p = _check_prob(p)
        if not 0 < s_min <= s_max <= 1:
            raise ValueError("s_min, s_max: expected 0 < s_min <= s_max <= 1, got %r, %r" % (s_min, s_max))
        if not 0 < ratio <= 1:
            raise ValueError("ratio: expected 0 < ratio <= 1 (aspect ratios ratio..1/ratio), got %r" % (ratio,))
        if not (value == "random" or isinstance(value, numbers.Real)):
            raise ValueError("value: expected a number or 'random', got %r" % (value,))
        self.s_min, self.s_max, self.ratio, self.value = float(s_min), float(s_max), float(ratio), value

    def __call__(self, x, rng=None):
        _check_batch(x)
        rng = _as_rng(rng)
        n, c, h, w = x.shape
        apply = rng.random(n) < self.p
        area = rng.uniform(self.s_min, self.s_max, n) * h * w
        aspect = np.exp(rng.uniform(math.log(self.ratio), -math.log(self.ratio), n))
        eh = np.clip(np.round(np.sqrt(area * aspect)), 1, h).astype(int)
        ew = np.clip(np.round(np.sqrt(area / aspect)), 1, w).astype(int)
        y0 = (rng.random(n) * (h - eh + 1)).astype(int)
        x0 = (rng.random(n) * (w - ew + 1)).astype(int)
        r, q = np.arange(h), np.arange(w)
        rows = (r >= y0[:, None]) & (r < (y0 + eh)[:, None]) & apply[:, None]      # n×h
        cols = (q >= x0[:, None]) & (q < (x0 + ew)[:, None])                       # n×w
        mask = np.broadcast_to((rows[:, :, None] & cols[:, None, :])[:, None], x.shape)
        out = x.copy()
        if self.value == "random":
            k = int(np.count_nonzero(mask))
            out[mask] = (rng.integers(0, 256, size=k, dtype=np.uint8) if x.dtype == np.uint8
                         else rng.random(k).astype(x.dtype))
        else:
            out[mask] = self.value
        return out

    def __repr__(self):
        v = "'random'" if self.value == "random" else "%g" % self.value
        return "RandomErasing(p=%g, s_min=%g, s_max=%g, ratio=%g, value=%s)" % (
            self.p, self.s_min, self.s_max, self.ratio, v)


class Compose:
    """Apply augmentations in order, all drawing from the same generator."""

    def __init__(self, transforms):
        transforms = list(transforms)
        for t in transforms:
            if not callable(t):
                raise TypeError("Compose: every transform must be callable as t(batch, rng), got %r" % (t,))
        self.transforms = transforms

    def __call__(self, x, rng=None):
        rng = _as_rng(rng)
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __len__(self):
        return len(self.transforms)

    def __repr__(self):
        return "Compose([%s])" % ", ".join(map(repr, self.transforms))


_AUG_NAMES = {"flip": "flip", "hflip": "flip", "crop": "crop", "erase": "erase", "erasing": "erase"}
_AUG_GRAMMAR = ("names: 'flip[P]' (RandomFlip, p=P, default 0.5), 'crop[N]' (RandomCrop, padding=N, "
                "default 4), 'erase[P]' (RandomErasing, p=P, default 0.5); e.g. 'flip,crop4,erase0.25'")


def _aug_from_token(token):
    m = re.fullmatch(r"([a-z_]+)\s*([0-9]*\.?[0-9]*)", token.strip().lower())
    kind = _AUG_NAMES.get(m.group(1)) if m else None
    if kind is None:
        raise ValueError("unknown augmentation %r.%s Known %s"
                         % (token, did_you_mean(m.group(1) if m else token, _AUG_NAMES, cutoff=0.5), _AUG_GRAMMAR))
    number = m.group(2)
    if kind == "crop":
        if number and not number.isdigit():
            raise ValueError("augmentation %r: crop padding must be a whole number of pixels" % token)
        return RandomCrop(int(number) if number else 4)
    p = float(number) if number else 0.5
    return RandomFlip(p) if kind == "flip" else RandomErasing(p)


def _aug_from_dict(item):
    params = dict(item)
    name = params.pop("name", None)
    kind = _AUG_NAMES.get(str(name).lower())
    if kind is None:
        raise ValueError("augmentation dict needs 'name' in %s, got %r" % (sorted(set(_AUG_NAMES)), item))
    cls = {"flip": RandomFlip, "crop": RandomCrop, "erase": RandomErasing}[kind]
    try:
        return cls(**params)
    except TypeError as e:
        raise ValueError("augmentation %r: %s" % (item, e)) from None


def make_augment(spec):
    """Build a ``Compose`` from a spec, or None for no augmentation.

    ``spec`` may be None / "" / "none"; a string of comma- or plus-separated names
    (``"flip,crop4"``, ``"flip+crop2+erase0.25"``); a list whose items are such names, dicts like
    ``{"name": "crop", "padding": 2}`` or callables ``aug(batch, rng)``; or a single callable.
    """
    if spec is None or spec is False:
        return None
    if isinstance(spec, Compose):
        return spec if len(spec) else None
    if callable(spec):
        return Compose([spec])
    if isinstance(spec, str):
        if spec.strip().lower() in ("", "none"):
            return None
        items = [t for t in re.split(r"[,+]", spec) if t.strip()]
    elif isinstance(spec, (list, tuple)):
        items = list(spec)
    else:
        raise TypeError("augment: expected None, a string like 'flip,crop4', a list or a callable, got %r"
                        % (spec,))
    transforms = []
    for item in items:
        if isinstance(item, str):
            transforms.append(_aug_from_token(item))
        elif isinstance(item, dict):
            transforms.append(_aug_from_dict(item))
        elif callable(item):
            transforms.append(item)
        else:
            raise TypeError("augment: list items must be names, dicts or callables, got %r" % (item,))
    return Compose(transforms) if transforms else None
