"""A full disk during training, for real: a 1 MB tmpfs as checkpoint_dir (needs root to mount;
CI runs as root, so there it must run)."""
import errno
import os
import shutil
import subprocess

import mxnet as mx
import numpy as np
import pytest

from conftest import signal_images
from fmnist_gluon import build_cnn, fit

SPEC = "conv8k3-bn-relu-pool2-dense32-relu"


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root and must mount the tmpfs for this test")
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                             capture_output=True, text=True, timeout=30)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("could not mount a tmpfs: %s" % mounted.stderr)
        pytest.skip("could not mount a tmpfs: %s" % mounted.stderr.strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30)


def fill(folder):
    """Write a file until the disk is full; returns its path."""
    path = folder / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return path


def weights(net):
    return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}


def train(epochs, folder):
    net = build_cnn(SPEC)
    fit(net, signal_images(64, 0), epochs=epochs, batch_size=32, seed=0, verbose=0,
        ctx=mx.cpu(), checkpoint_dir=str(folder))
    return net


def test_a_full_disk_gives_a_clear_error_and_the_last_checkpoint_still_loads(small_disk):
    folder = small_disk / "ckpt"
    first = weights(train(1, folder))
    filler = fill(small_disk)
    with pytest.raises(OSError) as caught:
        train(2, folder)
    message = str(caught.value)
    assert str(folder) in message and "space" in message.lower(), message
    assert caught.value.errno == errno.ENOSPC
    assert sorted(n for n in os.listdir(folder) if n.startswith(".tmp")) == []
    filler.unlink()
    resumed = weights(train(1, folder))  # epoch 1 is on disk: nothing to train, it loads
    assert resumed.keys() == first.keys()
    for k in first:
        assert np.array_equal(resumed[k], first[k]), k
