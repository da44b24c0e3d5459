"""Data: where the Fashion-MNIST / MNIST files are, reading and checking them; batches and
augmentation (``batches`` and ``augment`` modules, whose names this one re-exports).

Three parts:

1. ``load_dataset`` finds the four IDX files (explicit ``root``, ``$FMNIST_GLUON_DATA``, MXNet's
   cache, the Debian package path, then a download), reads them (gzip or not), checks their
   structure and - for the official Fashion-MNIST files - their MD5, and returns a ``Dataset``
   of whole in-memory arrays.
2. ``BatchIterator`` (``fmnist_gluon.batches``) slices batches out of those arrays: a seeded
   shuffle per epoch, a small copy per batch, pixels scaled to [0, 1] (optionally normalised),
   NDArrays on one or several contexts. The whole training set is 47 MB, so holding it in
   memory beats a per-sample ``DataLoader`` pipeline by a wide margin.
3. Batch-wise, seeded augmentations (``fmnist_gluon.augment``) (``RandomFlip``, ``RandomCrop``, ``RandomErasing``,
   ``Compose``) and ``make_augment`` to name them as data (``"flip,crop4"``).

See docs/data.md for the search order, the integrity policy and measured figures.
"""
import collections
import gzip
import hashlib
import math
import os
import re
import shutil
import struct
import tempfile
import zlib

import numpy as np

from .validation import (did_you_mean)

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


# The batch and augmentation names, where users and the docs have always found them.
from .augment import Compose, RandomCrop, RandomErasing, RandomFlip, make_augment  # noqa: E402
from .batches import BatchIterator, train_val_split  # noqa: E402
