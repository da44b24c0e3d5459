"""Shared fixtures: tiny synthetic IDX files so tests need no real data."""
import gzip
import importlib.util
import os
import struct

import numpy as np
import pytest

import fmnist_gluon  # noqa: F401  (first: its thread defaults apply before any test imports mxnet)

REAL_DIR = "/usr/share/datasets/fashion-mnist"
BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def load_benchmark(name):
    """Import benchmarks/<name>.py (a script folder, not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCHMARKS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def signal_images(n, seed):
    """Noise plus a bright square whose place depends on the class: a signal a network learns in
    a few steps, which also keeps gradients well conditioned (on pure noise, a BatchNorm net's
    gradients are mostly rounding). Returns (uint8 images (n, 28, 28), labels)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    for k in range(10):
        r, c = divmod(k, 5)
        images[labels == k, 4 + 10 * r:12 + 10 * r, 1 + 5 * c:5 + 5 * c] = 250
    return images, labels


def write_idx(path, array, compress=None):
    """Write ``array`` (uint8) as an IDX file; gzip it when ``compress`` or the name ends in .gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = header + array.tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def write_signal_idx(folder, n_train, n_test):
    """Fashion-MNIST-shaped .gz IDX files in ``folder`` holding ``signal_images`` (learnable in a
    few steps): ``n_train`` training and ``n_test`` test images. Returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = signal_images(n, seed)
        write_idx(folder / ("%s-images-idx3-ubyte.gz" % prefix), images)
        write_idx(folder / ("%s-labels-idx1-ubyte.gz" % prefix), labels)
    return folder


@pytest.fixture
def idx_dir(tmp_path):
    """A folder laid out like Fashion-MNIST's, with 60 train and 20 test images (6/2 per class)."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        write_idx(tmp_path / ("%s-images-idx3-ubyte.gz" % prefix), images)
        write_idx(tmp_path / ("%s-labels-idx1-ubyte.gz" % prefix), labels)
    return tmp_path


@pytest.fixture
def real_data_dir():
    """The Debian Fashion-MNIST folder; CI (CI=true) must have it, elsewhere the test is skipped."""
    if not os.path.exists(os.path.join(REAL_DIR, "t10k-labels-idx1-ubyte.gz")):
        if os.environ.get("CI"):
            pytest.fail("CI must install dataset-fashion-mnist (scripts/setup-env.sh does)")
        pytest.skip("real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return REAL_DIR
