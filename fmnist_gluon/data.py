"""Data: where the Fashion-MNIST / MNIST files are, reading and checking them, batches, augmentation.

Three parts, top to bottom:

1. ``load_dataset`` finds the four IDX files (explicit ``root``, ``$FMNIST_GLUON_DATA``, MXNet's
   cache, the Debian package path, then a download), reads them (gzip or not), checks their
   structure and - for the official Fashion-MNIST files - their MD5, and returns a ``Dataset``
   of whole in-memory arrays.
2. ``BatchIterator`` slices batches out of those arrays: a seeded shuffle per epoch, a small copy
   per batch, pixels scaled to [0, 1] (optionally normalised), NDArrays on one or several
   contexts. The whole training set is 47 MB, so holding it in memory beats a per-sample
   ``DataLoader`` pipeline by a wide margin.
3. Batch-wise, seeded augmentations (``RandomFlip``, ``RandomCrop``, ``RandomErasing``,
   ``Compose``) and ``make_augment`` to name them as data (``"flip,crop4"``).

See docs/data.md for the search order, the integrity policy and measured figures.
"""
import collections
import gzip
import hashlib
import math
import numbers
import os
import re
import shutil
import struct
import tempfile
import warnings
import zlib

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .validation import (check_batch_size, check_non_negative_int, check_number, check_probability,
                         check_seed, did_you_mean, resolve_contexts)

__all__ = [
    "Dataset", "load_dataset", "read_idx", "DataNotFoundError", "DataIntegrityError",
    "BatchIterator", "train_val_split",
    "RandomFlip", "RandomCrop", "RandomErasing", "Compose", "make_augment",
    "ENV_DATA", "ENV_URL",
]

# --------------------------------------------------------------------------------------------
# Dataset facts
# --------------------------------------------------------------------------------------------

ENV_DATA = "FMNIST_GLUON_DATA"       # folder holding the files, or a <dataset-name> subfolder
ENV_URL = "FMNIST_GLUON_DATA_URL"    # download base URL(s), comma-separated, tried in order

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

_SPLIT_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _mxnet_mirror(name):
    """MXNet's own dataset mirror (honours MXNET_GLUON_REPO, as gluon.data.vision does)."""
    repo = os.environ.get("MXNET_GLUON_REPO", "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/")
    return repo.rstrip("/") + "/gluon/dataset/%s/" % name


_DATASETS = {
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "classes": FASHION_CLASSES,
        "counts": {"train": 60000, "test": 10000},
        # MD5 of the *decompressed* files: identical for upstream and Debian's recompressed copies.
        "md5": {"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
        "mirrors": lambda: ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                            _mxnet_mirror("fashion-mnist")],
        "debian": "/usr/share/datasets/fashion-mnist",
        "apt": "dataset-fashion-mnist",
    },
    "mnist": {
        "title": "MNIST",
        "classes": [str(d) for d in range(10)],
        "counts": {"train": 60000, "test": 10000},
        "md5": {},  # no decompressed MD5s we are certain of: structural checks only
        "mirrors": lambda: [_mxnet_mirror("mnist"), "https://ossci-datasets.s3.amazonaws.com/mnist/"],
        "debian": None,
        "apt": None,
    },
}
_NAME_ALIASES = {"fashion-mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
                 "fmnist": "fashion-mnist", "mnist": "mnist"}
_SPLIT_ALIASES = {"train": "train", "test": "test", "t10k": "test"}


class Dataset(collections.namedtuple("Dataset", ["images", "labels", "classes"])):
    """One split in memory: ``images`` uint8 N×28×28, ``labels`` int32 N, ``classes`` names.

    The arrays returned by ``load_dataset`` are read-only because they are shared by an
    in-process cache; take ``.copy()`` to modify them.
    """
    __slots__ = ()

    def __repr__(self):
        return "Dataset(images=%s %s, labels=%s %s, classes=%d)" % (
            self.images.dtype, "×".join(map(str, self.images.shape)),
            self.labels.dtype, "×".join(map(str, self.labels.shape)), len(self.classes))


class DataNotFoundError(FileNotFoundError):
    """The dataset files were found nowhere; the message lists the places and the fixes."""


class DataIntegrityError(ValueError):
    """A dataset file is corrupt, truncated, of the wrong kind, or not the official content."""


# --------------------------------------------------------------------------------------------
# Validation of names
# --------------------------------------------------------------------------------------------

def _check_name(name):
    if not isinstance(name, str):
        raise TypeError("name must be a string such as 'fashion-mnist' or 'mnist', got %r" % (name,))
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    if key not in _NAME_ALIASES:
        raise ValueError("unknown dataset name %r: expected one of %s%s"
                         % (name, sorted(_DATASETS), did_you_mean(key, _NAME_ALIASES, cutoff=0.5)))
    return _NAME_ALIASES[key]


def _check_split(split):
    if not isinstance(split, str):
        raise TypeError("split must be 'train' or 'test', got %r" % (split,))
    key = split.strip().lower()
    if key in ("val", "valid", "validation", "dev"):
        raise ValueError("split %r does not exist: the files hold 'train' and 'test'. Carve a "
                         "validation set out of 'train' with train_val_split(images, labels)." % split)
    if key not in _SPLIT_ALIASES:
        raise ValueError("unknown split %r: expected 'train' or 'test'%s"
                         % (split, did_you_mean(key, ["train", "test"], cutoff=0.5)))
    return _SPLIT_ALIASES[key]


# --------------------------------------------------------------------------------------------
# Reading and checking IDX files
# --------------------------------------------------------------------------------------------

MAX_IDX_BYTES = 1 << 31  # an IDX payload the header promises beyond 2 GiB is refused unread
                         # (the largest official file, train images, holds 47 MB)


def _read_content(path):
    """Bytes of ``path``, gunzipped when it is gzip (detected by its magic, not its name).

    Reads the IDX header first and then no more than the payload it promises plus one byte (to
    notice trailing data), so a huge or endlessly compressible file costs no more memory than
    a real one; a promise above MAX_IDX_BYTES is refused before reading the payload."""
    with open(path, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if is_gzip else open)(path, "rb") as f:
            content = f.read(4)
            if len(content) < 4 or content[:3] != b"\x00\x00\x08":
                return content  # not IDX: _parse_idx names what it found
            content += f.read(4 * content[3])
            if len(content) < 4 + 4 * content[3]:
                return content
            promised = math.prod(struct.unpack(">%dI" % content[3], content[4:]))
            if promised > MAX_IDX_BYTES:
                raise DataIntegrityError(
                    "%s: the IDX header promises shape %s = %d bytes, more than MAX_IDX_BYTES = %d; "
                    "it is corrupt or not an image set. Delete it and get it again (or raise "
                    "fmnist_gluon.data.MAX_IDX_BYTES for a larger set)."
                    % (path, struct.unpack(">%dI" % content[3], content[4:]), promised, MAX_IDX_BYTES))
            return content + f.read(promised + 1)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        if not is_gzip:
            raise
        raise DataIntegrityError(
            "%s: the gzip stream is corrupt or truncated (%s). Delete the file and get it again "
            "(download, or reinstall the package that provided it)." % (path, e)) from None


def _parse_idx(content, path, ndim=None):
    """Check an IDX header and payload size; return the uint8 array (a read-only view)."""
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] != 0x08:
        want = "0x0000080%d" % ndim if ndim else "0x000008NN"
        raise DataIntegrityError(
            "%s: not an IDX file of unsigned bytes: expected magic number %s, got 0x%s. Is it the "
            "right file (images vs labels), and not HTML or another format?"
            % (path, want, content[:4].hex() or "<empty file>"))
    got_ndim = content[3]
    if ndim is not None and got_ndim != ndim:
        raise DataIntegrityError(
            "%s: expected an IDX file with %d dimensions (magic 0x0000080%d), got %d (magic 0x%s); "
            "images and labels files swapped?" % (path, ndim, ndim, got_ndim, content[:4].hex()))
    header = 4 + 4 * got_ndim
    if len(content) < header:
        raise DataIntegrityError("%s: truncated IDX header (%d bytes, need %d)" % (path, len(content), header))
    dims = struct.unpack(">%dI" % got_ndim, content[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(content) - header
    if got != expected:
        raise DataIntegrityError(
            "%s: the header promises shape %s = %d bytes of data, the file holds %s: it is %s. "
            "Delete it and get it again." % (path, tuple(dims), expected,
                                            got if got < expected else "more",
                                            "truncated" if got < expected else "corrupt (trailing bytes)"))
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path, ndim=None):
    """Read one IDX file of unsigned bytes (gzip or not) into a read-only uint8 array.

    Checks the magic number (and ``ndim`` when given) and that the payload has exactly the size
    the header promises; raises ``DataIntegrityError`` naming the file otherwise.
    """
    return _parse_idx(_read_content(os.fspath(path)), os.fspath(path), ndim)


def _verify_md5(name, split, base, path, content, count, verify):
    """Apply the MD5 policy to one decompressed file (see docs/data.md, "Integrity")."""
    info = _DATASETS[name]
    official = count == info["counts"][split]
    if verify is False or (verify == "auto" and not official):
        return
    if not info["md5"]:
        # A folder of Fashion-MNIST files offered as MNIST has the same file names: catch it.
        if hashlib.md5(content).hexdigest() in _DATASETS["fashion-mnist"]["md5"].values():
            raise DataIntegrityError("%s holds Fashion-MNIST, not MNIST: load it with "
                                     "name='fashion-mnist', or point root= at the MNIST files." % path)
        return
    want = info["md5"][base]
    if not official:  # verify=True on a file that cannot be the official one
        raise DataIntegrityError(
            "%s: verify=True, but the file holds %d items while the official %s %s file holds %d; "
            "it cannot match the official MD5. Pass verify='auto' or False for other files."
            % (path, count, info["title"], split, info["counts"][split]))
    got = hashlib.md5(content).hexdigest()
    if got != want:
        hint = ("sudo apt-get install --reinstall %s, " % info["apt"]) if info["apt"] else ""
        raise DataIntegrityError(
            "%s: the decompressed content has MD5 %s, expected %s for the official %s %s file. It is "
            "corrupt or not the official file (an MNIST folder given as Fashion-MNIST?). Fix: delete it "
            "and load again to download it, %sor pass verify=False to accept a modified file."
            % (path, got, want, info["title"], base, hint))


def _read_checked(name, split, base, path, ndim, verify):
    content = _read_content(path)
    array = _parse_idx(content, path, ndim)
    if ndim == 3 and array.shape[1:] != (28, 28):
        raise DataIntegrityError("%s: expected 28×28 images, got %d×%d" % (path, array.shape[1], array.shape[2]))
    if array.shape[0] == 0:
        raise DataIntegrityError("%s: the file holds no %s (its header says 0); delete it and get it again"
                                 % (path, "images" if ndim == 3 else "labels"))
    _verify_md5(name, split, base, path, content, array.shape[0], verify)
    return array


_CACHE = {}  # (name, split, paths, stats) -> (Dataset, md5_checked)


def _stat_key(path):
    st = os.stat(path)
    return os.path.realpath(path), st.st_size, st.st_mtime_ns


def _load_files(name, split, image_path, label_path, verify, cache=True):
    key = (name, split, _stat_key(image_path), _stat_key(label_path))
    info = _DATASETS[name]
    hit = _CACHE.get(key)
    if hit is not None:
        ds, md5_checked = hit
        official = len(ds.labels) == info["counts"][split]
        if md5_checked or verify is False or (verify == "auto" and not official):
            return Dataset(ds.images, ds.labels, list(ds.classes))
    img_base, lbl_base = _SPLIT_FILES[split]
    images = _read_checked(name, split, img_base, image_path, 3, verify)
    raw_labels = _read_checked(name, split, lbl_base, label_path, 1, verify)
    if len(images) != len(raw_labels):
        raise DataIntegrityError("%s holds %d images but %s holds %d labels: the pair does not belong "
                                 "together (or one is truncated)." % (image_path, len(images), label_path,
                                                                      len(raw_labels)))
    if raw_labels.size and raw_labels.max() >= len(info["classes"]):
        raise DataIntegrityError("%s: label %d out of range: %s has %d classes (0..%d)" % (
            label_path, raw_labels.max(), info["title"], len(info["classes"]), len(info["classes"]) - 1))
    labels = raw_labels.astype(np.int32)
    labels.setflags(write=False)
    ds = Dataset(images, labels, list(info["classes"]))
    if cache:
        md5_checked = verify is True or (verify == "auto" and len(images) == info["counts"][split])
        _CACHE[key] = (ds, md5_checked)  # content changes change size or mtime, hence the key
    return ds


# --------------------------------------------------------------------------------------------
# Where the files are
# --------------------------------------------------------------------------------------------

def _find_pair(folder, split):
    """(image_path, label_path, note): paths when both files are in ``folder``, else a note why not."""
    if not os.path.isdir(folder):
        return None, None, "no such folder"
    found = []
    for base in _SPLIT_FILES[split]:
        for candidate in (base, base + ".gz"):  # uncompressed first: it loads 10× faster
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                found.append(path)
                break
        else:
            found.append(None)
    if all(found):
        return found[0], found[1], "found"
    if any(found):
        have, lack = (_SPLIT_FILES[split][0], _SPLIT_FILES[split][1]) if found[0] else \
            (_SPLIT_FILES[split][1], _SPLIT_FILES[split][0])
        return None, None, "incomplete: has %s, lacks %s[.gz]" % (have, lack)
    return None, None, "folder exists, no %s files" % split


def _mxnet_cache(name):
    import mxnet.base  # lazily: honours MXNET_HOME and HOME at call time
    return os.path.join(mxnet.base.data_dir(), "datasets", name)


def _places(name, root):
    """[(description, folder)] in search order. An explicit root is the only place searched."""
    if root is not None:
        root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        return [("root=%r, %s subfolder" % (root, name), os.path.join(root, name)),
                ("root=%r" % root, root)]
    places = []
    env = os.environ.get(ENV_DATA)
    if env:
        env = os.path.abspath(os.path.expanduser(env))
        places += [("$%s, %s subfolder" % (ENV_DATA, name), os.path.join(env, name)),
                   ("$%s" % ENV_DATA, env)]
    places.append(("MXNet cache ($MXNET_HOME/datasets/%s)" % name, _mxnet_cache(name)))
    if _DATASETS[name]["debian"]:
        places.append(("Debian package %s" % _DATASETS[name]["apt"], _DATASETS[name]["debian"]))
    return places


def _download_dir(name, root):
    if root is not None:
        return os.path.join(os.path.abspath(os.path.expanduser(os.fspath(root))), name)
    env = os.environ.get(ENV_DATA)
    if env:
        return os.path.join(os.path.abspath(os.path.expanduser(env)), name)
    return _mxnet_cache(name)


def _base_urls(name, base_url):
    if base_url is None:
        base_url = os.environ.get(ENV_URL) or None
    if base_url is None:
        return _DATASETS[name]["mirrors"]()
    if isinstance(base_url, str):
        base_url = [u for u in base_url.split(",") if u.strip()]
    return [u.strip().rstrip("/") + "/" for u in base_url]


def _download(name, split, target, urls, verify, retries):
    """Fetch the split's two .gz files into ``target``; return (paths, errors).

    Each file goes to a private temporary folder inside ``target`` (so a failed or interrupted
    transfer leaves nothing behind), is checked like any loaded file, then moved into place
    with ``os.replace`` (atomic on one file system). Mirrors are tried in order.
    """
    from mxnet.gluon.utils import download as mx_download

    errors = []
    created, folder = [], os.path.abspath(target)
    while not os.path.exists(folder):  # folders we create, removed again if nothing arrives
        created.append(folder)
        folder = os.path.dirname(folder)
    done, tmp = False, None
    try:
        try:
            os.makedirs(target, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".download-", dir=target)
        except OSError as e:
            return None, ["cannot create a folder in %s: %s" % (target, e)]
        fetched = []
        for base, ndim in zip(_SPLIT_FILES[split], (3, 1)):
            fname = base + ".gz"
            for url in (u + fname for u in urls):
                path = os.path.join(tmp, fname)
                try:
                    mx_download(url, path=path, overwrite=True, retries=retries)
                    _read_checked(name, split, base, path, ndim, verify)
                    fetched.append(fname)
                    break
                except Exception as e:  # network, HTTP status or integrity: try the next mirror
                    errors.append("%s: %s: %s" % (url, type(e).__name__, e))
                    if os.path.exists(path):
                        os.remove(path)
            else:
                return None, errors
        for fname in fetched:
            os.replace(os.path.join(tmp, fname), os.path.join(target, fname))
        done = True
        return [os.path.join(target, f) for f in fetched], errors
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if not done:
            for folder in created:
                try:
                    os.rmdir(folder)
                except OSError:
                    break


def _not_found_message(name, split, searched, download_note, target):
    info = _DATASETS[name]
    files = ", ".join(b + "[.gz]" for b in _SPLIT_FILES[split])
    lines = ["%s '%s' files (%s) were not found." % (info["title"], split, files), "Searched, in order:"]
    for i, (desc, folder, note) in enumerate(searched, 1):
        lines.append("  %d. %s: %s (%s)" % (i, desc, folder, note))
    lines.append("  %d. download: %s" % (len(searched) + 1, download_note))
    lines.append("Fix it with one of:")
    if info["apt"]:
        lines.append("  sudo apt-get install %s        # installs %s" % (info["apt"], info["debian"]))
    lines.append("  export %s=/path/to/data        # a folder with the files, or with a '%s' subfolder"
                 % (ENV_DATA, name))
    lines.append("  load_dataset(%r, %r, root='/path/to/data')" % (name, split))
    mirror = info["mirrors"]()[0]
    lines.append("  mkdir -p %s && cd %s && for f in %s; do wget %s$f.gz; done"
                 % (target, target, " ".join(b for s in ("train", "test") for b in _SPLIT_FILES[s]), mirror))
    return "\n".join(lines)


def load_dataset(name="fashion-mnist", split="train", root=None, *, verify="auto", download=True,
                 base_url=None, retries=3):
    """Load one split of Fashion-MNIST or MNIST into memory.

    Parameters
    ----------
    name : "fashion-mnist" (default) or "mnist".
    split : "train" (60,000 images) or "test" (10,000 images).
    root : folder holding the files, or a ``<name>`` subfolder of it. When given it is the only
        place searched (a typo should not silently load another copy); a download goes to
        ``root/<name>``. When None the search order is ``$FMNIST_GLUON_DATA`` (same layout),
        MXNet's cache ``$MXNET_HOME/datasets/<name>`` (``~/.mxnet`` by default), the Debian path
        ``/usr/share/datasets/fashion-mnist``, then a download.
    verify : "auto" (default) checks the MD5 of the decompressed content when a file holds the
        official number of items; True requires the check; False skips it. Structure (magic,
        shape, counts, label range) is always checked. MNIST has no MD5s here (structure only).
    download : try the mirrors when the files are found nowhere.
    base_url : download base URL or list of them (default ``$FMNIST_GLUON_DATA_URL``, else the
        official mirrors).
    retries : attempts per URL (``mxnet.gluon.utils.download``).

    Returns
    -------
    Dataset(images uint8 N×28×28, labels int32 N, classes list of str); arrays are read-only.

    Raises
    ------
    DataNotFoundError listing every place searched and the commands that fix it;
    DataIntegrityError naming the bad file; ValueError/TypeError for bad arguments.
    """
    name, split = _check_name(name), _check_split(split)
    if verify not in ("auto", True, False):
        raise ValueError("verify must be 'auto', True or False, got %r" % (verify,))
    if verify is True and not _DATASETS[name]["md5"]:
        raise ValueError("verify=True needs known checksums, and fmnist_gluon has none for %s (its files "
                         "are checked structurally only). Use verify='auto' or False." % _DATASETS[name]["title"])
    searched = []
    for desc, folder in _places(name, root):
        image_path, label_path, note = _find_pair(folder, split)
        if image_path:
            return _load_files(name, split, image_path, label_path, verify)
        searched.append((desc, folder, note))
    if root is None and not os.environ.get(ENV_DATA):
        searched.insert(0, ("$%s" % ENV_DATA, "-", "not set"))
    target = _download_dir(name, root)
    if not download:
        note = "skipped (download=False)"
    else:
        urls = _base_urls(name, base_url)
        paths, errors = _download(name, split, target, urls, verify, retries)
        if paths:
            return _load_files(name, split, paths[0], paths[1], verify)
        note = "into %s failed:\n       " % target + "\n       ".join(errors)
    raise DataNotFoundError(_not_found_message(name, split, searched, note, target))


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

    Each full pass increments ``.epoch``; set ``.epoch = k`` to reproduce epoch ``k`` (resume).
    Per batch the work is an index slice, a small uint8 copy, one float conversion and
    ``nd.array`` on the context: the full set is never copied per batch.
    """

    def __init__(self, images, labels=None, batch_size=128, shuffle=False, seed=None, ctx=None,
                 augment=None, mean=None, std=None, last_batch="keep"):
        if isinstance(images, Dataset) and labels is None:
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
        return stop - first

    def __repr__(self):
        return ("BatchIterator(num_samples=%d, shape=%s, batch_size=%d, shuffle=%s, seed=%d, last_batch=%r, "
                "augment=%r, epoch=%d)" % (self.num_samples, self._x.shape[1:], self.batch_size, self.shuffle,
                                           self.seed, self.last_batch, self.augment, self.epoch))

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
