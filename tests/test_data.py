"""Tests for fmnist_gluon.data: finding, reading, checking, downloading, batching, augmenting."""
import functools
import gzip
import http.server
import os
import threading

import mxnet as mx
import numpy as np
import pytest

import fmnist_gluon.data as D
from fmnist_gluon.data import (BatchIterator, Compose, DataIntegrityError, DataNotFoundError, Dataset,
                               RandomCrop, RandomErasing, RandomFlip, load_dataset, make_augment,
                               train_val_split)

from conftest import write_idx

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def make_set(folder, n_train=30, n_test=10, seed=0, compress=True):
    """Write a synthetic Fashion-MNIST-like folder; return {split: (images, labels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        ext = ".gz" if compress else ""
        write_idx(folder / ("%s-images-idx3-ubyte%s" % (prefix, ext)), images)
        write_idx(folder / ("%s-labels-idx1-ubyte%s" % (prefix, ext)), labels)
        out[split] = (images, labels)
    return out


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env var, an empty MXNet home, no Debian path, downloads pointed at a closed port."""
    monkeypatch.delenv(D.ENV_DATA, raising=False)
    monkeypatch.delenv(D.ENV_URL, raising=False)
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    monkeypatch.setitem(D._DATASETS["fashion-mnist"], "debian", str(tmp_path / "no-debian"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return tmp_path


# ------------------------------------------------------------------------------ loading

def test_load_from_root_returns_dataset(idx_dir):
    ds = load_dataset("fashion-mnist", "train", root=idx_dir)
    assert isinstance(ds, Dataset)
    assert ds.images.shape == (60, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int32 and list(ds.labels) == [i % 10 for i in range(60)]
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot" and len(ds.classes) == 10
    test = load_dataset(split="test", root=idx_dir)
    assert test.images.shape == (20, 28, 28)
    assert not ds.images.flags.writeable  # shared with the in-process cache


def test_content_matches_what_was_written(tmp_path):
    written = make_set(tmp_path / "d")
    ds = load_dataset(split="test", root=tmp_path / "d")
    np.testing.assert_array_equal(ds.images, written["test"][0])
    np.testing.assert_array_equal(ds.labels, written["test"][1])


def test_uncompressed_files_accepted(tmp_path):
    written = make_set(tmp_path / "raw", compress=False)
    ds = load_dataset(root=tmp_path / "raw")
    np.testing.assert_array_equal(ds.images, written["train"][0])


def test_root_subfolder_named_like_dataset(tmp_path):
    written = make_set(tmp_path / "data" / "mnist", seed=3)
    make_set(tmp_path / "data" / "fashion-mnist", seed=4)
    ds = load_dataset("mnist", root=tmp_path / "data")
    np.testing.assert_array_equal(ds.images, written["train"][0])
    assert ds.classes == [str(d) for d in range(10)]


def test_env_var_then_root_precedence(isolated, monkeypatch):
    env_set = make_set(isolated / "env" / "fashion-mnist", seed=1)
    cache_set = make_set(isolated / "mxnet-home" / "datasets" / "fashion-mnist", seed=2)
    root_set = make_set(isolated / "root", seed=3)
    np.testing.assert_array_equal(load_dataset().images, cache_set["train"][0])  # no env var: cache
    monkeypatch.setenv(D.ENV_DATA, str(isolated / "env"))
    np.testing.assert_array_equal(load_dataset().images, env_set["train"][0])    # env beats cache
    np.testing.assert_array_equal(load_dataset(root=isolated / "root").images, root_set["train"][0])


def test_env_var_may_hold_files_directly(isolated, monkeypatch):
    written = make_set(isolated / "flat", seed=5)
    monkeypatch.setenv(D.ENV_DATA, str(isolated / "flat"))
    np.testing.assert_array_equal(load_dataset(split="test").labels, written["test"][1])


def test_explicit_root_is_the_only_place_searched(isolated):
    make_set(isolated / "mxnet-home" / "datasets" / "fashion-mnist")
    with pytest.raises(DataNotFoundError) as err:
        load_dataset(root=isolated / "typo", download=False)
    msg = str(err.value)
    assert str(isolated / "typo") in msg and "MXNet cache" not in msg


def test_mxnet_cache_honours_mxnet_home_and_home(isolated, monkeypatch):
    written = make_set(isolated / "mxnet-home" / "datasets" / "fashion-mnist", seed=6)
    np.testing.assert_array_equal(load_dataset().images, written["train"][0])
    monkeypatch.delenv("MXNET_HOME")
    monkeypatch.setenv("HOME", str(isolated / "home"))
    written = make_set(isolated / "home" / ".mxnet" / "datasets" / "mnist", seed=7)
    np.testing.assert_array_equal(load_dataset("mnist").images, written["train"][0])


def test_incomplete_folder_is_skipped_and_reported(isolated):
    folder = isolated / "mxnet-home" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataNotFoundError, match="incomplete: has train-images-idx3-ubyte, lacks train-labels"):
        load_dataset(download=False)


def test_missing_everywhere_lists_places_and_fixes(isolated, monkeypatch):
    monkeypatch.setenv(D.ENV_DATA, str(isolated / "envdir"))
    with pytest.raises(DataNotFoundError) as err:
        load_dataset(base_url="http://127.0.0.1:9/", retries=1)
    msg = str(err.value)
    for place in (isolated / "envdir" / "fashion-mnist", isolated / "envdir",
                  isolated / "mxnet-home" / "datasets" / "fashion-mnist", isolated / "no-debian"):
        assert str(place) in msg
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in msg  # the download attempt and why it failed
    assert "sudo apt-get install dataset-fashion-mnist" in msg
    assert "export FMNIST_GLUON_DATA=" in msg and "root=" in msg
    assert isinstance(err.value, FileNotFoundError)
    assert not (isolated / "envdir").exists()  # the folders made for the download are removed again


def test_missing_without_download_says_skipped(isolated):
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("mnist", "test", download=False)
    msg = str(err.value)
    assert "skipped (download=False)" in msg and "$FMNIST_GLUON_DATA" in msg and "not set" in msg
    assert "apt-get" not in msg  # there is no Debian MNIST package to recommend


@pytest.mark.parametrize("name, hint", [("fashion-mnst", "fashion-mnist"), ("mnsit", "mnist")])
def test_bad_name_suggests(name, hint):
    with pytest.raises(ValueError, match="did you mean %r" % hint):
        load_dataset(name)


def test_name_and_split_spellings_and_errors(idx_dir):
    assert load_dataset("Fashion_MNIST", "t10k", root=idx_dir).images.shape[0] == 20
    with pytest.raises(ValueError, match="did you mean 'train'"):
        load_dataset(split="trian", root=idx_dir)
    with pytest.raises(ValueError, match="train_val_split"):
        load_dataset(split="validation", root=idx_dir)
    with pytest.raises(TypeError, match="name must be a string"):
        load_dataset(3)
    with pytest.raises(ValueError, match="verify must be"):
        load_dataset(root=idx_dir, verify="yes")


# ------------------------------------------------------------------------------ integrity

def test_wrong_magic_names_file(tmp_path):
    make_set(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"<html>not found</html>")
    with pytest.raises(DataIntegrityError, match=r"train-images-idx3-ubyte.gz: not an IDX file.*0x3c68746d"):
        load_dataset(root=tmp_path)


def test_swapped_images_and_labels_detected(tmp_path):
    make_set(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros(30, np.uint8))
    with pytest.raises(DataIntegrityError, match="expected an IDX file with 3 dimensions.*swapped"):
        load_dataset(root=tmp_path)


def test_truncated_gzip_names_file(tmp_path):
    make_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataIntegrityError, match="train-images-idx3-ubyte.gz: the gzip stream is corrupt or truncated"):
        load_dataset(root=tmp_path)


def test_short_payload_names_file(tmp_path):
    make_set(tmp_path, compress=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataIntegrityError, match=r"t10k-images-idx3-ubyte: the header promises shape \(10, 28, 28\)"
                                                 r" = 7840 bytes of data, the file holds 7835: it is truncated"):
        load_dataset(split="test", root=tmp_path)


def test_count_mismatch_and_label_range(tmp_path):
    make_set(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(DataIntegrityError, match="holds 30 images but .* holds 29 labels"):
        load_dataset(root=tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(30, 10, np.uint8))
    with pytest.raises(DataIntegrityError, match="label 10 out of range"):
        load_dataset(root=tmp_path)


def test_wrong_image_size_rejected(tmp_path):
    make_set(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((30, 32, 32), np.uint8))
    with pytest.raises(DataIntegrityError, match="expected 28×28 images, got 32×32"):
        load_dataset(root=tmp_path)


def test_md5_checked_only_for_official_count(tmp_path):
    """A file with the official item count claims to be official: its MD5 is checked ('auto')."""
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(10000, dtype=np.uint8) % 10)
    with pytest.raises(DataIntegrityError, match="t10k-images-idx3-ubyte: the decompressed content has MD5 .*"
                                                 "expected 8181f5470baa50b63fa0f6fddb340f0a"):
        load_dataset(split="test", root=tmp_path)
    assert load_dataset(split="test", root=tmp_path, verify=False).images.shape == (10000, 28, 28)
    # loaded unchecked once: a later 'auto' load must still check, not trust the cache
    with pytest.raises(DataIntegrityError):
        load_dataset(split="test", root=tmp_path)


def test_verify_true_rejects_non_official_files(idx_dir):
    assert load_dataset(root=idx_dir, verify="auto").images.shape[0] == 60  # synthetic: structure only
    with pytest.raises(DataIntegrityError, match="verify=True, but the file holds 60 items while the official"):
        load_dataset(root=idx_dir, verify=True)
    with pytest.raises(ValueError, match="no checksums|none for MNIST"):
        load_dataset("mnist", root=idx_dir, verify=True)


def test_changed_file_is_reread(tmp_path):
    make_set(tmp_path, seed=1)
    first = load_dataset(root=tmp_path).images.copy()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.full((30, 28, 28), 7, np.uint8))
    os.utime(tmp_path / "train-images-idx3-ubyte.gz", ns=(1, 1))  # different mtime even on coarse clocks
    second = load_dataset(root=tmp_path).images
    assert (second == 7).all() and not (first == 7).all()


def test_read_idx_roundtrip(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(D.read_idx(write_idx(tmp_path / "a.gz", arr)), arr)
    np.testing.assert_array_equal(D.read_idx(write_idx(tmp_path / "a", arr), ndim=3), arr)


# ------------------------------------------------------------------------------ download

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _TruncatingHandler(_QuietHandler):
    """Promises the full length, sends half, closes: an interrupted transfer."""

    def do_GET(self):
        body = b"\x1f\x8b" + b"x" * 998
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(body[:500])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def serve():
    servers = []

    def start(directory, handler=_QuietHandler):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return "http://127.0.0.1:%d/" % srv.server_address[1]

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_download_into_mxnet_cache_then_load(isolated, serve):
    written = make_set(isolated / "srv", seed=9)
    url = serve(isolated / "srv")
    ds = load_dataset(base_url=url)
    np.testing.assert_array_equal(ds.images, written["train"][0])
    cache = isolated / "mxnet-home" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    # the next load finds the files without the network
    np.testing.assert_array_equal(load_dataset(base_url="http://127.0.0.1:9/").labels, written["train"][1])


def test_download_url_from_env_into_root(isolated, serve, monkeypatch):
    written = make_set(isolated / "srv", seed=10)
    monkeypatch.setenv(D.ENV_URL, serve(isolated / "srv"))
    ds = load_dataset("mnist", "test", root=isolated / "mine")
    np.testing.assert_array_equal(ds.images, written["test"][0])
    assert (isolated / "mine" / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_download_falls_back_to_next_mirror_on_bad_file(isolated, serve):
    (isolated / "bad").mkdir()
    for name in FILES:
        (isolated / "bad" / (name + ".gz")).write_bytes(b"<html>moved</html>")
    written = make_set(isolated / "good", seed=11)
    ds = load_dataset(split="test", base_url=[serve(isolated / "bad"), serve(isolated / "good")])
    np.testing.assert_array_equal(ds.labels, written["test"][1])


@pytest.mark.parametrize("handler", [_QuietHandler, _TruncatingHandler], ids=["404", "interrupted"])
def test_failed_download_leaves_nothing(isolated, serve, handler):
    (isolated / "empty").mkdir()
    url = serve(isolated / "empty", handler)
    with pytest.raises(DataNotFoundError) as err:
        load_dataset(base_url=url, retries=2)
    assert url + "train-images-idx3-ubyte.gz" in str(err.value)
    assert "sudo apt-get install dataset-fashion-mnist" in str(err.value)
    cache = isolated / "mxnet-home" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    with pytest.raises(DataNotFoundError):
        load_dataset(base_url=url, retries=1)
    assert list(cache.iterdir()) == []  # no partial file, no temporary folder


# ------------------------------------------------------------------------------ iterator

def ids_images(n, h=4, w=4):
    """Images whose pixel (0, 0) encodes the sample id (n <= 256)."""
    x = np.zeros((n, h, w), np.uint8)
    x[:, 0, 0] = np.arange(n)
    return x


def epoch_ids(it):
    return [y.asnumpy().tolist() for _, y in it]


def test_iterator_yields_scaled_float_nchw():
    x = np.full((5, 28, 28), 255, np.uint8)
    x[:, 0, 0] = 0
    data, label = next(iter(BatchIterator(x, np.arange(5), batch_size=4)))
    assert data.shape == (4, 1, 28, 28) and data.dtype == np.float32 and data.context == mx.current_context()
    arr = data.asnumpy()
    assert arr[0, 0, 0, 0] == 0.0 and arr[0, 0, 1, 1] == 1.0
    assert label.dtype == np.int32 and label.asnumpy().tolist() == [0, 1, 2, 3]


def test_every_sample_once_per_epoch_and_reshuffled():
    n = 103
    it = BatchIterator(ids_images(n), np.arange(n), batch_size=10, shuffle=True, seed=3)
    e0, e1 = epoch_ids(it), epoch_ids(it)
    assert it.epoch == 2 and len(it) == 11 and it.num_samples == n
    assert sorted(sum(e0, [])) == list(range(n)) and sorted(sum(e1, [])) == list(range(n))
    assert e0 != e1
    assert [len(b) for b in e0] == [10] * 10 + [3]


def test_order_depends_only_on_seed_and_epoch():
    n = 50
    a = BatchIterator(ids_images(n), np.arange(n), batch_size=8, shuffle=True, seed=7)
    b = BatchIterator(ids_images(n), np.arange(n), batch_size=8, shuffle=True, seed=7)
    c = BatchIterator(ids_images(n), np.arange(n), batch_size=8, shuffle=True, seed=8)
    a0, _, a2 = epoch_ids(a), epoch_ids(a), epoch_ids(a)  # epochs 0, 1, 2
    b.epoch = 2  # resume: jump straight to epoch 2
    assert epoch_ids(b) == a2
    b.epoch = 0
    assert epoch_ids(b) == a0 and epoch_ids(c) != a0
    # data and labels stay paired
    data, label = next(iter(BatchIterator(ids_images(n), np.arange(n), batch_size=8, shuffle=True, seed=7)))
    np.testing.assert_allclose(data.asnumpy()[:, 0, 0, 0] * 255, label.asnumpy(), atol=1e-3)


def test_no_shuffle_keeps_order_and_interrupted_epoch_does_not_count():
    it = BatchIterator(ids_images(10), np.arange(10), batch_size=4)
    assert epoch_ids(it) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for _ in it:
        break
    assert it.epoch == 1


def test_last_batch_discard_and_rollover():
    n = 10
    it = BatchIterator(ids_images(n), np.arange(n), batch_size=4, last_batch="discard")
    assert len(it) == 2 and [len(b) for b in epoch_ids(it)] == [4, 4]
    ro = BatchIterator(ids_images(n), np.arange(n), batch_size=4, shuffle=True, seed=1, last_batch="rollover")
    lens = [len(ro)]
    e0 = epoch_ids(ro)
    lens.append(len(ro))
    e1 = epoch_ids(ro)
    assert lens == [2, 3] and all(len(b) == 4 for b in e0 + e1)  # 10 -> 2 batches + 2 rolled; 12 -> 3
    order0 = ro.order(0).tolist()
    assert sum(e0, []) == order0[:8]
    assert sum(e1, [])[:2] == order0[8:]  # the leftover starts the next epoch
    assert sorted(sum(e0 + e1, [])[:20]) == sorted(list(range(n)) * 2)
    with pytest.raises(ValueError, match="last_batch: expected one of.*did you mean 'discard'"):
        BatchIterator(ids_images(n), last_batch="dicsard")


def test_ctx_list_splits_like_split_and_load():
    n = 7
    x = ids_images(n)
    single = list(BatchIterator(x, np.arange(n), batch_size=5))
    multi = list(BatchIterator(x, np.arange(n), batch_size=5, ctx=[mx.cpu(0), mx.cpu(1)]))
    (d0, l0), (d1, l1) = multi
    assert [d.shape[0] for d in d0] == [3, 2] and [d.context for d in d0] == [mx.cpu(0), mx.cpu(1)]
    assert [lab.context for lab in l0] == [mx.cpu(0), mx.cpu(1)]
    np.testing.assert_array_equal(np.concatenate([d.asnumpy() for d in d0]), single[0][0].asnumpy())
    np.testing.assert_array_equal(np.concatenate([lab.asnumpy() for lab in l0]), single[0][1].asnumpy())
    assert [d.shape[0] for d in d1] == [1, 1]
    tail = list(BatchIterator(x[:3], batch_size=2, ctx=[mx.cpu(0), mx.cpu(1)]))[-1]
    assert len(tail[0]) == 1 and tail[1] is None  # one sample: one context; no labels: None


def test_normalisation_per_channel():
    x = np.zeros((2, 3, 4, 4), np.uint8)
    x[:, 1] = 255
    data, _ = next(iter(BatchIterator(x, mean=(0.5, 0.5, 0.0), std=(0.5, 0.25, 1.0))))
    arr = data.asnumpy()
    np.testing.assert_allclose(arr[:, 0], -1.0)
    np.testing.assert_allclose(arr[:, 1], 2.0)
    np.testing.assert_allclose(arr[:, 2], 0.0)
    data, _ = next(iter(BatchIterator(np.full((2, 4, 4), 51, np.uint8), mean=0.2, std=0.1)))
    np.testing.assert_allclose(data.asnumpy(), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="mean: expected a number or 3 values"):
        BatchIterator(x, mean=(0.1, 0.2))


def test_three_channel_layouts_and_odd_sizes_agree():
    rng = np.random.default_rng(0)
    nchw = rng.integers(0, 256, (9, 3, 13, 17), dtype=np.uint8)
    nhwc = nchw.transpose(0, 2, 3, 1)
    a = [d.asnumpy() for d, _ in BatchIterator(nchw, batch_size=4)]
    b = [d.asnumpy() for d, _ in BatchIterator(nhwc, batch_size=4)]
    assert a[0].shape == (4, 3, 13, 17)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_allclose(a[0], nchw[:4] / 255.0, rtol=1e-6)


def test_float_images_used_as_they_are_and_warned_if_0_255():
    x = np.random.default_rng(0).random((4, 5, 5)).astype(np.float64)
    data, _ = next(iter(BatchIterator(x)))
    np.testing.assert_allclose(data.asnumpy()[:, 0], x, rtol=1e-6)
    with pytest.warns(UserWarning, match="divide by 255"):
        BatchIterator(x * 255)


@pytest.mark.parametrize("images, labels, match", [
    (np.zeros((4, 28)), None, "got 2-D shape"),
    (np.zeros((4, 2, 8, 8)), None, "C 1 or 3, got shape"),
    (np.zeros((4, 8, 8)), np.arange(3), "expected 4 labels"),
    (np.zeros((4, 8, 8)), np.eye(4), "one-hot.*argmax"),
    (np.zeros((0, 8, 8)), None, "empty"),
    (np.full((2, 8, 8), 300), None, "0..255"),
    (np.zeros((2, 8, 8)), np.array([0.5, 1.0]), "integer class indices"),
])
def test_iterator_input_errors(images, labels, match):
    with pytest.raises(ValueError, match=match):
        BatchIterator(images, labels)


def test_iterator_argument_errors():
    x = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="batch_size: expected a positive integer"):
        BatchIterator(x, batch_size=0)
    with pytest.raises(TypeError, match="ctx: expected None"):
        BatchIterator(x, ctx=0)
    with pytest.raises(ValueError, match="gives no batches"):
        BatchIterator(x, batch_size=5, last_batch="discard")


def test_dataset_input_and_augment_does_not_change_order(idx_dir):
    ds = load_dataset(root=idx_dir)
    plain = BatchIterator(ds, batch_size=16, shuffle=True, seed=2)
    aug1 = BatchIterator(ds, batch_size=16, shuffle=True, seed=2, augment="flip,crop2,erase")
    aug2 = BatchIterator(ds, batch_size=16, shuffle=True, seed=2, augment="flip,crop2,erase")
    assert epoch_ids(plain) == epoch_ids(aug1)
    aug1.epoch = 0
    a = [d.asnumpy() for d, _ in aug1]
    b = [d.asnumpy() for d, _ in aug2]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)  # seeded: identical augmentation
    assert not all(np.array_equal(u, v) for u, v in zip(a, [d.asnumpy() for d, _ in aug2]))  # next epoch differs
    plain.epoch = 0
    assert any(not np.array_equal(u, d.asnumpy()) for u, (d, _) in zip(a, plain))


# ------------------------------------------------------------------------------ augmentation

def test_flip_mirrors():
    x = np.random.default_rng(0).integers(0, 256, (64, 2, 5, 7), dtype=np.uint8)
    np.testing.assert_array_equal(RandomFlip(1.0)(x, 0), x[..., ::-1])
    np.testing.assert_array_equal(RandomFlip(0.0)(x, 0), x)
    out = RandomFlip(0.5)(x, 1)
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x)])
    same = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert (flipped | same).all() and 10 < flipped.sum() < 54
    assert out is not x and np.array_equal(RandomFlip(0.5)(x, 1), out)


def test_crop_keeps_shape_and_shifts_content():
    x = np.zeros((200, 1, 9, 9), np.uint8)
    x[:, 0, 4, 4] = 255
    out = RandomCrop(padding=2)(x, 0)
    assert out.shape == x.shape and out.dtype == np.uint8
    shifts = set()
    for img in out[:, 0]:
        (r,), (c,) = np.nonzero(img == 255)[0], np.nonzero(img == 255)[1]
        assert (img == 255).sum() == 1 and abs(r - 4) <= 2 and abs(c - 4) <= 2
        shifts.add((r - 4, c - 4))
    assert len(shifts) == 25  # every offset in [-2, 2]² occurs
    # a shifted copy, zeros come in from the border
    y = np.arange(1, 82, dtype=np.uint8).reshape(1, 1, 9, 9).repeat(50, 0)
    for o in RandomCrop(3)(y, 1)[:, 0]:
        r0, c0 = np.argwhere(o == 1)[0] if (o == 1).any() else (None, None)
        if r0 is not None:
            np.testing.assert_array_equal(o[r0:, c0:], y[0, 0, :9 - r0, :9 - c0])
    np.testing.assert_array_equal(RandomCrop(0)(y, 0), y)


def test_erasing_fills_one_rectangle():
    x = np.full((100, 1, 20, 20), 200, np.uint8)
    out = RandomErasing(p=1.0, value=0)(x, 0)
    for img in out[:, 0]:
        rows, cols = np.nonzero(img == 0)
        assert rows.size > 0
        box = img[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert (box == 0).all() and rows.size == box.size  # exactly one filled rectangle
        assert 0.02 * 400 * 0.5 <= rows.size <= 0.4 * 400 * 1.5
    np.testing.assert_array_equal(RandomErasing(p=0.0)(x, 0), x)
    noisy = RandomErasing(p=1.0)(x, 3)
    assert (noisy != 200).any() and noisy.dtype == np.uint8
    f = RandomErasing(p=1.0)(np.ones((4, 3, 8, 8), np.float32), 0)
    assert f.dtype == np.float32 and f.min() >= 0 and f.max() <= 1 and (f < 1).any()
    assert (x == 200).all()  # input untouched


def test_augmentations_seeded():
    x = np.random.default_rng(0).integers(0, 256, (32, 1, 12, 12), dtype=np.uint8)
    aug = make_augment("flip,crop4,erase")
    np.testing.assert_array_equal(aug(x, np.random.default_rng(5)), aug(x, np.random.default_rng(5)))
    assert not np.array_equal(aug(x, np.random.default_rng(5)), aug(x, np.random.default_rng(6)))


def test_make_augment_specs():
    aug = make_augment("flip,crop4")
    assert isinstance(aug, Compose) and repr(aug) == "Compose([RandomFlip(p=0.5), RandomCrop(padding=4)])"
    aug = make_augment(["flip0.3", {"name": "crop", "padding": 2}, "erase0.25"])
    assert [type(t) for t in aug.transforms] == [RandomFlip, RandomCrop, RandomErasing]
    assert (aug.transforms[0].p, aug.transforms[1].padding, aug.transforms[2].p) == (0.3, 2, 0.25)
    assert repr(make_augment("flip+crop")) == "Compose([RandomFlip(p=0.5), RandomCrop(padding=4)])"
    for nothing in (None, "", "none", []):
        assert make_augment(nothing) is None
    fn = lambda b, rng: b  # noqa: E731
    assert make_augment(fn).transforms == [fn]
    with pytest.raises(ValueError, match="did you mean 'flip'"):
        make_augment("flp,crop4")
    with pytest.raises(ValueError, match="whole number of pixels"):
        make_augment("crop2.5")
    with pytest.raises(ValueError, match="probability"):
        make_augment("flip2")
    with pytest.raises(ValueError, match="augmentation dict needs 'name'"):
        make_augment([{"padding": 2}])
    with pytest.raises(ValueError, match="N×C×H×W"):
        RandomFlip()(np.zeros((3, 4, 4)), 0)


# ------------------------------------------------------------------------------ split

def test_train_val_split_stratified():
    y = np.repeat(np.arange(10), 100)
    x = np.arange(1000)
    (xtr, ytr), (xva, yva) = train_val_split(x, y, val_fraction=0.1, seed=0)
    assert np.bincount(yva).tolist() == [10] * 10 and np.bincount(ytr).tolist() == [90] * 10
    assert sorted(np.concatenate([xtr, xva]).tolist()) == list(range(1000))
    np.testing.assert_array_equal(y[xtr], ytr)  # pairs kept
    (_, _), (xva2, _) = train_val_split(x, y, val_fraction=0.1, seed=0)
    (_, _), (xva3, _) = train_val_split(x, y, val_fraction=0.1, seed=1)
    assert xva.tolist() == xva2.tolist() and xva.tolist() != xva3.tolist()


def test_train_val_split_imbalanced_and_errors():
    y = np.array([0] * 80 + [1] * 15 + [2] * 5)
    (_, _), (_, yva) = train_val_split(np.zeros((100, 2, 2)), y, val_fraction=0.2)
    assert np.bincount(yva).tolist() == [16, 3, 1]
    with pytest.raises(ValueError, match="differ in length"):
        train_val_split(np.zeros((5, 2)), np.zeros(4, int))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        train_val_split(np.zeros((5, 2)), np.zeros(5, int), val_fraction=1.0)


# ------------------------------------------------------------------------------ real data

@pytest.mark.realdata
def test_real_fashion_mnist(real_data_dir):
    train = load_dataset("fashion-mnist", "train", root=real_data_dir, verify=True)
    test = load_dataset("fashion-mnist", "test", root=real_data_dir, verify=True)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    with pytest.raises(DataIntegrityError, match="holds Fashion-MNIST, not MNIST"):
        load_dataset("mnist", "test", root=real_data_dir)
    it = BatchIterator(train, batch_size=128, shuffle=True, seed=0)
    assert len(it) == 469 and sum(d.shape[0] for d, _ in it) == 60000


def test_download_into_unusable_folder_reports_it(isolated):
    blocker = isolated / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DataNotFoundError, match="cannot create a folder in .*a-file"):
        load_dataset(root=blocker, base_url="http://127.0.0.1:9/")
