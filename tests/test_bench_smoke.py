"""Smoke test of benchmarks/bench_epoch.py and the modules it uses (seed_pipeline, profile_fit,
matmul_rate) on synthetic data: the pipelines train and report.

No timing assertions (speed is what the script prints); this only checks that the seed's
pipeline as reproduced there really trains, that the figures have the keys the report uses,
and that the profile parsers read MXNet's / MKL-DNN's formats right.
"""
import math
import re

import mxnet as mx
import numpy as np
import pytest

import fmnist_gluon

from conftest import load_benchmark, signal_images


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_epoch")


@pytest.fixture(scope="module")
def seed_pipeline():
    return load_benchmark("seed_pipeline")


@pytest.fixture(scope="module")
def profile():
    return load_benchmark("profile_fit")


TIMING_KEYS = {"seconds", "train_seconds", "test_eval_seconds", "train_images", "test_images",
               "loss", "train_accuracy", "test_accuracy"}


def test_seed_pipeline_trains_and_reports(seed_pipeline):
    x, y = signal_images(256, 0)
    xt, yt = signal_images(64, 1)
    stats = seed_pipeline.seed_epoch(x, y, xt, yt, batch_size=16, seed=1)
    assert TIMING_KEYS | {"train_eval_seconds"} <= set(stats)
    assert stats["train_images"] == 256 and stats["test_images"] == 64
    # It learned: the epoch's mean loss is below chance level (ln 10) and, after 16 steps, the
    # accuracy passes find the class signal well above chance (10%).
    assert math.isfinite(stats["loss"]) and 0 < stats["loss"] < math.log(10)
    assert 0.2 < stats["train_accuracy"] <= 1 and 0.2 < stats["test_accuracy"] <= 1
    parts = stats["train_seconds"] + stats["train_eval_seconds"] + stats["test_eval_seconds"]
    assert stats["seconds"] == pytest.approx(parts, rel=1e-6)


def test_seed_dataset_is_the_seed_transform(seed_pipeline):
    x, y = signal_images(4, 0)
    data, label = seed_pipeline.seed_dataset(x, y)[2]
    assert data.shape == (1, 28, 28) and data.dtype == np.float32
    np.testing.assert_allclose(data.asnumpy()[0], x[2] / 255.0, rtol=1e-6)
    assert label.dtype == np.float32 and float(label) == y[2]


def test_fit_pipeline_reports_the_same_keys(bench):
    x, y = signal_images(256, 0)
    xt, yt = signal_images(64, 1)
    stats, net = bench.fit_epoch(x, y, xt, yt, batch_size=32, seed=0)
    assert TIMING_KEYS <= set(stats)
    assert math.isfinite(stats["loss"]) and stats["train_seconds"] > 0
    assert net(mx.nd.array(x[:2, None] / 255.0)).shape == (2, 10)


def test_operator_table_parser(profile):
    header = ("Name                          Total Count        Time (ms)    Min Time (ms)    "
              "Max Time (ms)    Avg Time (ms)")
    rule = "----  -----------  ---------  -------------  -------------  -------------"
    table = "\n".join([
        "Profile Statistics:",
        "MXNET_C_API",
        "=================",
        header,
        rule,
        "MXNDArraySyncCopyFromCPU      16      494.3550      2.5040      59.8070      30.8972",
        "",
        "operator",
        "=================",
        header,
        rule,
        "Convolution                   200      720.2310      1.1260      36.4580       3.6012",
        "_backward_Convolution         200     1541.8571      1.6010     102.6260       7.7093",
        "multi_sgd_update              300      223.4150      0.0050      24.9260       0.7447",
    ])
    rows = profile.operator_rows(table)
    assert [r[0] for r in rows] == ["_backward_Convolution", "Convolution", "multi_sgd_update"]
    assert rows[0][1:] == (200, pytest.approx(1541.8571))
    assert profile.category("_backward_Convolution") == "convolution"
    assert profile.category("multi_sgd_update") == "optimizer update"


def test_mkldnn_problem_macs_match_the_summary(profile):
    import fmnist_gluon

    rows = fmnist_gluon.summary("baseline", print_fn=None).rows
    conv2 = profile.primitive_macs(
        "convolution", "mb128_ic64oc64_ih14oh12kh3sh1dh0ph0_iw14ow12kw3sw1dw0pw0")
    dense = profile.primitive_macs("inner_product", "mb128ic2304oc256")
    assert conv2 == 128 * rows[3].macs
    assert dense == 128 * rows[7].macs
    assert profile.primitive_macs("eltwise", "128x64x28x28") == 0


def test_pool_before_relu_is_the_same_function(bench):
    import mxnet as mx

    import fmnist_gluon

    a, b = fmnist_gluon.build_cnn("baseline"), bench.pool_before_relu_net()
    a.initialize(mx.init.Xavier())
    b.initialize()
    x = mx.nd.array(signal_images(8, 0)[0][:, None] / 255.0)
    a(x), b(x)
    for pa, pb in zip(a.collect_params().values(), b.collect_params().values()):
        pb.set_data(pa.data())
    np.testing.assert_allclose(a(x).asnumpy(), b(x).asnumpy(), rtol=1e-5, atol=1e-6)


def test_train_spec_script_trains_the_given_settings(idx_dir, monkeypatch, capsys):
    """benchmarks/train_spec.py (the recipe search's tool) passes its options to fit."""
    monkeypatch.setenv("FMNIST_GLUON_DATA", str(idx_dir))
    module = load_benchmark("train_spec")
    args = ["conv4k3-pool2-relu-dense10", "--opt", "nag", "--mom", "0.9", "--lr", "0.05",
            "--epochs", "2", "--bs", "16", "--aug", "flip",
            "--sched", '{"type": "cosine", "warmup_epochs": 1}']
    history = module.main(args + ["--smoothing", "0.1"])
    assert [e["epoch"] for e in history.epochs] == [1, 2]
    assert history.meta["seed"] == 0
    line = capsys.readouterr().out
    assert "opt=nag mom=0.9 lr=0.05" in line and "aug=flip ls=0.1" in line
    assert "final %.2f" % (100 * history.epochs[-1]["val_accuracy"]) in line
    # label smoothing reaches fit: the smoothed loss differs from the plain one's
    plain = module.main(args)
    assert plain.epochs[0]["train_loss"] != history.epochs[0]["train_loss"]


def test_train_spec_script_logs_epochs_and_resumes_from_its_checkpoint(idx_dir, monkeypatch,
                                                                      capsys, tmp_path):
    """--epoch-lines prints each epoch; --checkpoint-dir lets a killed long run resume."""
    monkeypatch.setenv("FMNIST_GLUON_DATA", str(idx_dir))
    module = load_benchmark("train_spec")
    args = ["conv4k3-pool2-relu-dense10", "--opt", "sgd", "--lr", "0.05", "--bs", "16",
            "--checkpoint-dir", str(tmp_path / "ckpt"), "--epoch-lines"]
    first = module.main(args + ["--epochs", "1"])
    out = capsys.readouterr().out
    assert "epoch 1/1" in out
    assert (tmp_path / "ckpt" / "checkpoint.json").exists()
    resumed = module.main(args + ["--epochs", "2"])
    assert [e["epoch"] for e in resumed.epochs] == [1, 2]
    assert resumed.epochs[0] == first.epochs[0]  # epoch 1 was loaded, not trained again
    assert "epoch 1/2" not in capsys.readouterr().out


def test_train_spec_script_reports_tta_of_a_finished_run_without_training(idx_dir, monkeypatch,
                                                                          capsys, tmp_path):
    """--tta flip adds the final net's flip-TTA accuracy; rerun on a checkpoint, it trains nothing."""
    monkeypatch.setenv("FMNIST_GLUON_DATA", str(idx_dir))
    module = load_benchmark("train_spec")
    args = ["conv4k3-pool2-relu-dense10", "--opt", "sgd", "--lr", "0.05", "--bs", "16",
            "--epochs", "2", "--checkpoint-dir", str(tmp_path / "ckpt"), "--epoch-lines"]
    module.main(args)
    first = capsys.readouterr().out
    assert "tta=" not in first
    module.main(args + ["--tta", "flip"])
    again = capsys.readouterr().out
    assert "epoch 2/2" not in again  # loaded, not trained
    tta = re.search(r"\| tta=flip (\d+\.\d\d) \|", again)
    assert tta, again
    net = fmnist_gluon.build_cnn("conv4k3-pool2-relu-dense10")
    net.load_parameters(str(tmp_path / "ckpt" / "last.params"))
    test = fmnist_gluon.load_dataset("fashion-mnist", "test")
    want = fmnist_gluon.evaluate(net, (test.images, test.labels), tta="flip")["accuracy"]
    assert float(tta.group(1)) == pytest.approx(100 * want, abs=0.006)
    assert re.search(r"final (\S+)", again).group(1) == re.search(r"final (\S+)", first).group(1)
