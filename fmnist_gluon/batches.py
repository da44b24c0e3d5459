"""Batches from in-memory arrays: the checks on arrays users give, ``BatchIterator`` (a seeded
shuffle per epoch, a small copy per batch, pixels scaled to [0, 1], NDArrays on one or several
contexts) and ``train_val_split``. The whole training set is 47 MB, so holding it in memory beats
a per-sample ``DataLoader`` pipeline by a wide margin (docs/data.md has the figures).
"""
import warnings

import numpy as np

from .augment import make_augment
from .validation import (check_batch_size, check_int, check_number, check_seed, did_you_mean,
                         resolve_contexts)

__all__ = ["BatchIterator", "train_val_split"]


# --------------------------------------------------------------------------------------------
# Arrays from users: shapes and dtypes
# --------------------------------------------------------------------------------------------

def _as_nchw(images):
    """A C-contiguous N×C×H×W uint8 or float32 array from any accepted layout (one copy at most)."""
    x = np.asarray(images)
    if x.ndim == 0 or (x.ndim < 3 and x.dtype == object):
        raise TypeError("images: expected an array of pixels (N×H×W, N×H×W×C or N×C×H×W), got %s"
                        % type(images).__name__)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[1] not in (1, 3):
            if x.shape[3] not in (1, 3):
                raise ValueError("images: expected N×H×W, N×H×W×C or N×C×H×W with C 1 or 3, got shape %s"
                                 % (x.shape,))
            x = x.transpose(0, 3, 1, 2)
    else:
        raise ValueError("images: expected N×H×W, N×H×W×C or N×C×H×W with C 1 or 3, got %d-D shape %s"
                         % (x.ndim, x.shape))
    if x.shape[0] == 0:
        raise ValueError("images: got an empty array (0 images)")
    if x.dtype == np.uint8:
        pass
    elif x.dtype.kind in "iu":
        lo, hi = x.min(), x.max()
        if lo < 0 or hi > 255:
            raise ValueError("images: integer pixels must lie in 0..255, got %d..%d; pass floats for "
                             "other ranges" % (lo, hi))
        x = x.astype(np.uint8)
    elif x.dtype.kind == "f":
        x = x.astype(np.float32, copy=False)
        finite = np.isfinite(x)
        if not finite.all():
            bad = np.flatnonzero(~finite.reshape(len(x), -1).all(axis=1))
            raise ValueError("images: %d image(s) hold NaN or infinite pixels (the first is image %d); "
                             "drop or repair them (e.g. np.nan_to_num) before training"
                             % (len(bad), bad[0]))
    else:
        raise TypeError("images: expected uint8 (0..255) or float pixels, got dtype %s; convert with "
                        "images.astype(np.float32) (values in [0, 1]) or np.uint8 (0..255)" % x.dtype)
    return np.ascontiguousarray(x)


def _as_labels(labels, n):
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[0] == n and y.shape[1] > 1:
        raise ValueError("labels: expected class indices of shape (%d,), got one-hot-like shape %s; "
                         "pass labels.argmax(axis=1)" % (n, y.shape))
    if y.ndim == 2 and y.shape[1] == 1:  # a column vector is fine
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise ValueError("labels: expected %d labels (one per image), got shape %s" % (n, y.shape))
    if y.dtype.kind == "f":
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("labels: expected integer class indices, got non-integer floats (e.g. %r)"
                             % float(y[np.flatnonzero(np.mod(y, 1) != 0)[0]]))
    elif y.dtype.kind not in "iu":
        raise TypeError("labels: expected integer class indices, got dtype %s" % y.dtype)
    if y.size and y.min() < 0:
        raise ValueError("labels: class indices must be >= 0, got %d" % y.min())
    if y.size and y.max() > np.iinfo(np.int32).max:
        raise ValueError("labels: class indices must be below 2**31 (they are int32 on the device), got %d"
                         % y.max())
    return np.ascontiguousarray(y, dtype=np.int32)


def _per_channel(value, channels, what):
    v = np.asarray(value, dtype=np.float32).reshape(-1)
    if v.size == 1:
        v = np.repeat(v, channels)
    if v.size != channels:
        raise ValueError("%s: expected a number or %d values (one per channel), got %d" % (what, channels, v.size))
    return v.reshape(1, channels, 1, 1)


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------

_LAST_BATCH = ("keep", "discard", "rollover")


def _check_ctx(ctx):
    """(one context, False) or (a list, True): a list given, or None resolving to several GPUs."""
    ctxs = resolve_contexts(ctx)
    multi = isinstance(ctx, (list, tuple)) or len(ctxs) > 1
    return (ctxs if multi else ctxs[0]), multi


def _check_shard(shard, batch_size):
    """None or a checked ``(index, count)``: ``0 <= index < count`` and ``count`` divides the
    batch size (so every worker's part of a global batch has the same size)."""
    if shard is None:
        return None
    if not isinstance(shard, (tuple, list)) or len(shard) != 2:
        raise ValueError("shard: expected None or (index, count), e.g. (rank, num_workers), got %r"
                         % (shard,))
    count = check_int(shard[1], "shard count", low=1)
    index = check_int(shard[0], "shard index", low=0, high=count - 1)
    if batch_size % count:
        raise ValueError("batch_size %d is not a multiple of the %d workers: each worker takes an "
                         "equal part of every global batch; use a batch_size divisible by %d"
                         % (batch_size, count, count))
    return index, count


def _shard_of(idx, index, count):
    """The ``index``-th of ``count`` equal contiguous parts of ``idx`` (cut to a multiple)."""
    part = len(idx) // count
    return idx[index * part:(index + 1) * part]


class BatchIterator:
    """Mini-batches from in-memory arrays, as NDArrays on one context or split across several.

    Parameters
    ----------
    images : uint8 or float array, N×H×W, N×H×W×C or N×C×H×W (C = 1 or 3; a 4-D array is read
        as N×C×H×W when axis 1 has size 1 or 3), or a ``Dataset`` (then ``labels`` comes from it).
        uint8 pixels are divided by 255; float pixels are used as they are (scale them first).
    labels : integer array of length N, or None (then every label yielded is None).
    batch_size : samples per batch.
    shuffle : reshuffle every epoch. The order of epoch ``k`` depends only on ``(seed, k)``.
    seed : int; None draws one (kept in ``.seed``, so a run can still be repeated).
    ctx : an mxnet Context (default: the current one) or a list of them; with a list every batch
        is split with ``gluon.utils.split_and_load(..., even_split=False)`` and yielded as
        ``(list_of_data, list_of_label)``. A batch smaller than the list uses its first contexts.
    augment : None, a callable ``aug(batch_NCHW_numpy, rng) -> batch`` or a ``make_augment`` spec
        (``"flip,crop4"``). It sees the raw batch (uint8 0..255 or your floats) before scaling,
        with a generator seeded by ``(seed, epoch)``, independent of the shuffle stream.
    mean, std : optional normalisation in [0, 1] pixel units (scalar or one per channel), applied
        after scaling, like ``transforms.Normalize`` after ``ToTensor``.
    last_batch : "keep" (a smaller last batch), "discard" (drop it) or "rollover" (its samples
        start the next epoch), as in ``gluon.data.DataLoader``.
    shard : None, or ``(index, count)`` for data-parallel training across ``count`` worker
        processes: every worker walks the same order (same ``seed``) in the same global batches
        of ``batch_size`` and yields only its ``index``-th contiguous part of each (as
        ``split_and_load`` splits a batch across devices), so the workers' parts of one step
        are one global batch. ``batch_size`` must be a multiple of ``count``; a last batch is
        cut to a multiple of ``count`` (at most ``count - 1`` samples of an epoch left out).

    Each full pass increments ``.epoch``; set ``.epoch = k`` to reproduce epoch ``k`` (resume).
    Per batch the work is an index slice, a small uint8 copy, one float conversion and
    ``nd.array`` on the context: the full set is never copied per batch.
    """

    def __init__(self, images, labels=None, batch_size=128, shuffle=False, seed=None, ctx=None,
                 augment=None, mean=None, std=None, last_batch="keep", shard=None):
        if labels is None and hasattr(images, "images") and hasattr(images, "labels"):  # a Dataset
            images, labels = images.images, images.labels
        self._x = _as_nchw(images)
        n, c = self._x.shape[:2]
        if self._x.dtype == np.float32:
            hi = float(self._x.max())
            if 1.5 < hi <= 255.0 and float(self._x.min()) >= 0 and mean is None:
                warnings.warn("float images with values up to %g: BatchIterator uses float pixels as they "
                              "are; divide by 255 (or pass uint8) to get the usual [0, 1] range" % hi,
                              stacklevel=2)
        self._y = None if labels is None else _as_labels(labels, n)
        self.batch_size = check_batch_size(batch_size)
        if last_batch not in _LAST_BATCH:
            raise ValueError("last_batch: expected one of %s, got %r%s"
                             % (_LAST_BATCH, last_batch, did_you_mean(last_batch, _LAST_BATCH, cutoff=0.5)))
        if last_batch == "discard" and self.batch_size > n:
            raise ValueError("batch_size %d > %d samples with last_batch='discard' gives no batches; "
                             "use a smaller batch_size or last_batch='keep'" % (self.batch_size, n))
        if last_batch == "rollover" and self.batch_size > n:
            raise ValueError("last_batch='rollover' needs batch_size <= number of samples (%d), got %d"
                             % (n, self.batch_size))
        self.last_batch = last_batch
        self.shard = _check_shard(shard, self.batch_size)
        self.shuffle = bool(shuffle)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        self.seed = check_seed(seed)
        self.ctx, self._multi = _check_ctx(ctx)
        self.augment = make_augment(augment)
        # pixels -> x * scale + shift, folded from /255 and (x - mean) / std
        base = 1.0 / 255.0 if self._x.dtype == np.uint8 else 1.0
        m = _per_channel(0.0 if mean is None else mean, c, "mean")
        s = _per_channel(1.0 if std is None else std, c, "std")
        if np.any(s <= 0):
            raise ValueError("std: expected positive values, got %s" % s.ravel())
        self._scale = (base / s).astype(np.float32)
        self._shift = (-m / s).astype(np.float32)
        self._affine = mean is not None or std is not None
        self.epoch = 0

    # ---- sizes ----
    @property
    def labels(self):
        """The int32 labels (read-only view), or None when the iterator has none."""
        return self._y

    @property
    def num_samples(self):
        return self._x.shape[0]

    def _batch_range(self, epoch):
        """(first, stop) batch numbers of ``epoch`` in the stream of concatenated epoch orders."""
        n, b = self.num_samples, self.batch_size
        if self.last_batch == "rollover":
            return (epoch * n) // b, ((epoch + 1) * n) // b
        per_epoch = n // b if self.last_batch == "discard" else -(-n // b)
        return 0, per_epoch

    def __len__(self):
        first, stop = self._batch_range(self.epoch)
        tail = self.num_samples % self.batch_size if self.last_batch == "keep" else 0
        if self.shard is not None and 0 < tail < self.shard[1]:
            stop -= 1  # a last batch smaller than the number of workers gives no batch
        return stop - first

    def __repr__(self):
        return ("BatchIterator(num_samples=%d, shape=%s, batch_size=%d, shuffle=%s, seed=%d, last_batch=%r, "
                "augment=%r, epoch=%d%s)" % (self.num_samples, self._x.shape[1:], self.batch_size, self.shuffle,
                                             self.seed, self.last_batch, self.augment, self.epoch,
                                             "" if self.shard is None else ", shard=%s" % (self.shard,)))

    # ---- order ----
    def _rng(self, epoch, stream):
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(epoch, stream)))

    def order(self, epoch):
        """The sample order of ``epoch`` (a permutation when shuffling), a function of (seed, epoch)."""
        if not self.shuffle:
            return np.arange(self.num_samples)
        return self._rng(epoch, 0).permutation(self.num_samples)

    def _epoch_indices(self, epoch):
        """Indices of all samples yielded in ``epoch``, in order (rollover takes the previous tail)."""
        if self.last_batch != "rollover":
            return self.order(epoch)
        n, b = self.num_samples, self.batch_size
        first, stop = self._batch_range(epoch)
        start, end = first * b - epoch * n, stop * b - epoch * n  # relative to this epoch's order
        parts = []
        if start < 0:
            parts.append(self.order(epoch - 1)[n + start:])
        parts.append(self.order(epoch)[max(start, 0):end])
        return np.concatenate(parts)

    # ---- batches ----
    def _to_float(self, xb):
        if not self._affine:
            out = np.multiply(xb, self._scale.dtype.type(self._scale.flat[0]), dtype=np.float32)
            if self._shift.flat[0] != 0:
                out += self._shift.flat[0]
            return out
        out = np.multiply(xb, self._scale, dtype=np.float32)
        out += self._shift
        return out

    def __iter__(self):
        from mxnet import nd
        from mxnet.gluon.utils import split_and_load

        epoch = self.epoch
        indices = self._epoch_indices(epoch)
        rng = self._rng(epoch, 1) if self.augment is not None else None
        b = self.batch_size
        for start in range(0, len(indices), b):
            idx = indices[start:start + b]
            if len(idx) < b and self.last_batch != "keep":
                break
            if self.shard is not None:
                idx = _shard_of(idx, *self.shard)
                if not len(idx):
                    break
            xb = self._x[idx]
            if self.augment is not None:
                xb = self.augment(xb, rng)
            xf = self._to_float(xb)
            yb = None if self._y is None else self._y[idx]
            if not self._multi:
                data = nd.array(xf, ctx=self.ctx, dtype=np.float32)
                label = None if yb is None else nd.array(yb, ctx=self.ctx, dtype=np.int32)
            else:
                ctxs = self.ctx[:len(idx)]
                data = split_and_load(nd.array(xf, ctx=ctxs[0], dtype=np.float32), ctxs, even_split=False)
                label = None if yb is None else split_and_load(
                    nd.array(yb, ctx=ctxs[0], dtype=np.int32), ctxs, even_split=False)
            yield data, label
        self.epoch = epoch + 1


def train_val_split(images, labels, val_fraction=0.1, seed=0):
    """Stratified split: ``((x_train, y_train), (x_val, y_val))`` with class proportions kept.

    Each class gives ``val_fraction`` of its samples to validation (largest-remainder rounding,
    so the total is ``round(N * val_fraction)``); which samples go is drawn from ``seed``. Both
    parts keep the original order. Use it to choose hyper-parameters without touching the
    official test set.
    """
    x = np.asarray(images)
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError("labels: expected a 1-D array of class indices, got shape %s" % (y.shape,))
    if len(x) != len(y):
        raise ValueError("images and labels differ in length: %d images, %d labels" % (len(x), len(y)))
    check_number(val_fraction, "val_fraction", 0, 1, low_open=True, high_open=True,
                 hint=" (strictly between 0 and 1)")
    seed = check_seed(seed)
    n_val = int(round(len(y) * val_fraction))
    if n_val < 1 or n_val >= len(y):
        raise ValueError("val_fraction=%g of %d samples leaves an empty part (%d for validation)"
                         % (val_fraction, len(y), n_val))
    classes, y_inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    ideal = counts * (n_val / len(y))
    take = np.floor(ideal).astype(int)
    rest = n_val - take.sum()
    take[np.argsort(-(ideal - take), kind="stable")[:rest]] += 1
    rng = np.random.default_rng(seed)
    val_mask = np.zeros(len(y), dtype=bool)
    for k in range(len(classes)):
        members = np.flatnonzero(y_inv == k)
        val_mask[rng.choice(members, size=take[k], replace=False)] = True
    return (x[~val_mask], y[~val_mask]), (x[val_mask], y[val_mask])
