"""fit / evaluate / predict / History on tiny synthetic data and tiny networks (a few seconds)."""
import json
import math
import os
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from fmnist_gluon import train as T
from fmnist_gluon.data import BatchIterator
from fmnist_gluon.train import History, TrainingDiverged, evaluate, fit, predict
from fmnist_gluon.train.params import average_statistics

TIMING = ("seconds", "images_per_sec")


def make_data(n=240, seed=0):
    """Random images whose class is written into a few pixel rows: learnable in one epoch."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    x = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    for c in range(10):
        x[y == c, 2 * c:2 * c + 3, :] = 255
    return x, y.astype(np.int32)


TRAIN = make_data(240, 0)
VAL = make_data(80, 1)


def tiny_net(batchnorm=False, dropout=0.0):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, strides=2))
    if batchnorm:
        net.add(gluon.nn.BatchNorm())
    net.add(gluon.nn.Activation("relu"), gluon.nn.MaxPool2D(2), gluon.nn.Flatten())
    if dropout:
        net.add(gluon.nn.Dropout(dropout))
    net.add(gluon.nn.Dense(10))
    return net


def params_of(net):
    return {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}


def rows_without_timing(history):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history.epochs]


def quick_fit(net=None, **kw):
    kw.setdefault("epochs", 2)
    kw.setdefault("optimizer", "adam")
    kw.setdefault("lr", 0.01)
    kw.setdefault("batch_size", 32)
    kw.setdefault("seed", 3)
    kw.setdefault("verbose", 0)
    kw.setdefault("ctx", mx.cpu())
    net = net if net is not None else tiny_net()
    return net, fit(net, kw.pop("train", TRAIN), kw.pop("val", VAL), **kw)


# ---------------------------------------------------------------------------------------------
# fit basics, determinism, initialisation
# ---------------------------------------------------------------------------------------------

def test_fit_learns_and_records_rows():
    net, h = quick_fit(epochs=3)
    assert [r["epoch"] for r in h.epochs] == [1, 2, 3]
    assert list(h.epochs[0]) == ["epoch", "train_loss", "train_accuracy", "val_loss",
                                 "val_accuracy", "lr", "seconds", "images_per_sec"]
    assert h.history["val_accuracy"][-1] > 0.6 > h.history["val_accuracy"][0] - 0.5
    assert h.history["train_loss"][-1] < h.history["train_loss"][0]
    assert all(r["lr"] == pytest.approx(0.01) for r in h.epochs)
    assert all(r["seconds"] > 0 and r["images_per_sec"] > 0 for r in h.epochs)
    assert h.meta["seed"] == 3 and h.meta["contexts"] == ["cpu(0)"]
    assert h.best_epoch == int(np.argmax(h.history["val_accuracy"])) + 1
    assert net._active  # hybridized by default


def test_same_seed_same_history_and_weights_different_seed_differs():
    net1, h1 = quick_fit(net=tiny_net(dropout=0.3))
    net2, h2 = quick_fit(net=tiny_net(dropout=0.3))
    _, h3 = quick_fit(net=tiny_net(dropout=0.3), seed=4)
    assert rows_without_timing(h1) == rows_without_timing(h2)
    p1, p2 = params_of(net1), params_of(net2)
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert rows_without_timing(h1) != rows_without_timing(h3)


def test_seed_none_draws_and_records_one():
    _, h = quick_fit(seed=None, epochs=1)
    assert isinstance(h.meta["seed"], int)


def test_init_magnitude_scales_xavier_and_initialised_net_is_kept():
    nets = {}
    for mag in (3.0, 2.24):
        nets[mag], _ = quick_fit(epochs=0, init_magnitude=mag)
    w3, w2 = params_of(nets[3.0])["0.weight"], params_of(nets[2.24])["0.weight"]
    np.testing.assert_allclose(w3, w2 * math.sqrt(3.0 / 2.24), rtol=1e-5, atol=1e-7)
    # an initialised network keeps its weights: no re-initialisation
    before = params_of(nets[3.0])
    quick_fit(net=nets[3.0], epochs=0, seed=99, init=mx.init.Constant(0.5))
    after = params_of(nets[3.0])
    assert all(np.array_equal(before[k], after[k]) for k in before)
    net, _ = quick_fit(epochs=0, init=mx.init.Constant(0.5))
    assert np.all(params_of(net)["0.weight"] == 0.5)


def test_hybridize_false_leaves_net_imperative():
    net, h = quick_fit(epochs=1, hybridize=False)
    assert not net._active and len(h) == 1


def test_batch_iterator_input_and_context_mismatch():
    it = BatchIterator(*TRAIN, batch_size=32, shuffle=True, seed=5, ctx=mx.cpu())
    net, h = quick_fit(train=it, epochs=1, ctx=None)
    assert h.meta["train_samples"] == 240
    bad = BatchIterator(*TRAIN, batch_size=32, ctx=[mx.cpu(0), mx.cpu(1)])
    with pytest.raises(ValueError, match="BatchIterator on"):
        quick_fit(train=bad, epochs=1, ctx=mx.cpu())
    with pytest.raises(ValueError, match="augment"):
        quick_fit(train=it, epochs=1, augment="flip")


def test_augment_string_changes_training():
    _, plain = quick_fit(epochs=1)
    _, aug = quick_fit(epochs=1, augment="flip")
    assert plain.epochs[0]["train_loss"] != aug.epochs[0]["train_loss"]


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": -1}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"optimizer": "adamm"}, "unknown name 'adamm'"),
    ({"metrics": "acuracy"}, "unknown metric"),
    ({"lr_scheduler": "cosin"}, "unknown type"),
    ({"lr_scheduler": {"type": "step", "epoch": [1]}}, "unknown keys"),
    ({"early_stopping": 0}, "patience"),
    ({"verbose": 3}, "verbose"),
    ({"on_nan": "ignore"}, "on_nan"),
    ({"init": "xavierr"}, "init"),
    ({"ctx": "tpu"}, "ctx"),
    ({"ctx": 0}, "ctx"),
    ({"batch_size": True}, "batch_size"),
    ({"seed": True}, "seed"),
    ({"epochs": False}, "epochs"),
    ({"train": (TRAIN[0], None)}, "labels are None"),
    ({"train": TRAIN[0]}, "pair"),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        quick_fit(**kwargs)


def test_monitor_without_validation_data():
    net = tiny_net()
    with pytest.raises(ValueError, match="no validation data"):
        fit(net, TRAIN, epochs=1, early_stopping=2, monitor="val_loss", verbose=0)
    h = fit(tiny_net(), TRAIN, epochs=2, batch_size=32, seed=1, verbose=0, ctx=mx.cpu())
    assert h.monitor == "train_accuracy" and "val_accuracy" not in h.history
    assert h.best_epoch == int(np.argmax(h.history["train_accuracy"])) + 1


# ---------------------------------------------------------------------------------------------
# Optimizers and schedules
# ---------------------------------------------------------------------------------------------

def test_optimizer_instance_equals_name():
    _, by_name = quick_fit(optimizer="adam", lr=0.005, wd=1e-4)
    _, by_instance = quick_fit(optimizer=mx.optimizer.Adam(learning_rate=0.005, wd=1e-4))
    assert rows_without_timing(by_name) == rows_without_timing(by_instance)
    with pytest.raises(ValueError, match="instance"):
        quick_fit(optimizer=mx.optimizer.Adam(), optimizer_params={"beta1": 0.8})


def test_optimizer_params_pass_through():
    _, plain = quick_fit(optimizer="sgd", lr=0.05)
    _, momentum = quick_fit(optimizer="sgd", lr=0.05, optimizer_params={"momentum": 0.9})
    assert plain.epochs[-1]["train_loss"] != momentum.epochs[-1]["train_loss"]


BATCHES = 240 // 32 + 1  # 8 batches per epoch


def expected_lrs(scheduler, epochs):
    return [scheduler((e + 1) * BATCHES) for e in range(epochs)]


def test_step_shorthand_decays_at_given_epochs():
    _, h = quick_fit(epochs=3, lr=0.01,
                     lr_scheduler={"type": "step", "epochs": [1, 2], "factor": 0.1})
    assert h.history["lr"] == pytest.approx([0.01, 0.001, 0.0001])


@pytest.mark.parametrize("spec", ["cosine", "poly", {"type": "factor", "every": 1, "factor": 0.5},
                                  {"type": "cosine", "warmup_epochs": 1, "final_lr": 1e-4}, "step"])
def test_shorthands_match_their_mxnet_schedulers(spec):
    sched = T.make_lr_scheduler(spec, 0.01, 3, BATCHES)
    assert isinstance(sched, mx.lr_scheduler.LRScheduler)
    want = expected_lrs(T.make_lr_scheduler(spec, 0.01, 3, BATCHES), 3)
    _, h = quick_fit(epochs=3, lr=0.01, lr_scheduler=spec)
    assert h.history["lr"] == pytest.approx(want)
    assert len(set(np.round(want, 12))) > 1 or spec == "step"


def test_warmup_ramps_linearly():
    sched = T.make_lr_scheduler({"type": "step", "epochs": [3], "warmup_epochs": 2}, 0.1, 4, 10)
    assert sched(5) == pytest.approx(0.025) and sched(20) == pytest.approx(0.1)
    assert sched(31) == pytest.approx(0.01)


def test_mxnet_and_gluoncv_scheduler_instances():
    from gluoncv.utils import LRScheduler, LRSequential

    def gluoncv_sched():
        return LRSequential([
            LRScheduler("linear", base_lr=0.0, target_lr=0.01, niters=BATCHES),
            LRScheduler("cosine", base_lr=0.01, target_lr=0.0, niters=2 * BATCHES)])

    _, h = quick_fit(epochs=3, lr=123.0, lr_scheduler=gluoncv_sched())  # lr is ignored
    assert h.history["lr"] == pytest.approx(expected_lrs(gluoncv_sched(), 3))
    mx_sched = lambda: mx.lr_scheduler.FactorScheduler(step=BATCHES, factor=0.5, base_lr=0.02)
    _, h = quick_fit(epochs=3, lr_scheduler=mx_sched())
    assert h.history["lr"] == pytest.approx(expected_lrs(mx_sched(), 3))


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def test_metrics_by_name_dict_and_instance():
    metrics = ["accuracy", "top_k_accuracy_3", "ce", "f1", {"name": "top_k_accuracy", "top_k": 2},
               mx.metric.create("nll_loss", name="my_nll")]
    net, h = quick_fit(epochs=1, metrics=metrics)
    row = h.epochs[0]
    for key in ("accuracy", "top_k_accuracy_3", "cross_entropy", "macro_f1",
                "top_k_accuracy_2", "my_nll"):
        assert 0 <= row["train_" + key] and 0 <= row["val_" + key]
    assert row["val_accuracy"] <= row["val_top_k_accuracy_2"] <= row["val_top_k_accuracy_3"]
    assert row["val_cross_entropy"] == pytest.approx(row["val_loss"], rel=1e-4)
    assert row["train_cross_entropy"] == pytest.approx(row["train_loss"], rel=1e-4)
    ev = evaluate(net, VAL, ctx=mx.cpu(), metrics=metrics)
    assert ev["accuracy"] == pytest.approx(row["val_accuracy"])
    assert ev["macro_f1"] == pytest.approx(row["val_macro_f1"])
    with pytest.raises(ValueError, match="share the name"):
        quick_fit(metrics=["acc", "accuracy"])


def test_top_k_accuracy_defaults_to_five():
    assert T.make_metrics("top_k_accuracy")[0].get()[0] == "top_k_accuracy_5"


def test_device_accuracy_equals_mxnet_accuracy():
    rng = np.random.default_rng(0)
    preds = [mx.nd.array(rng.random((13, 10))) for _ in range(3)]
    labels = [mx.nd.array(rng.integers(0, 10, 13), dtype="int32") for _ in range(3)]
    ours, theirs = T.DeviceAccuracy(), mx.metric.Accuracy()
    ours.update(labels, preds)
    theirs.update(labels, preds)
    assert ours.get() == pytest.approx(theirs.get())


def test_macro_f1_matches_hand_computation():
    # truth: 0 0 1 1 2 ; predicted: 0 1 1 1 0  (class 3 absent from both: not averaged)
    truth = mx.nd.array([0, 0, 1, 1, 2], dtype="int32")
    pred = mx.nd.one_hot(mx.nd.array([0, 1, 1, 1, 0]), 4)
    m = T.MacroF1()
    m.update([truth], [pred])
    f1 = [2 * 1 / (2 + 2), 2 * 2 / (2 + 3), 0.0]  # 2TP / (true + predicted) per class
    assert m.get() == ("macro_f1", pytest.approx(np.mean(f1)))
    assert m.confusion_matrix()[0].tolist() == [1, 1, 0, 0]


def test_mxnet_f1_is_binary_only():
    # Why "f1" maps to MacroF1: MXNet's own F1 refuses more than two classes.
    m = mx.metric.F1(average="macro")
    with pytest.raises(ValueError, match="binary"):
        m.update([mx.nd.array([0, 1, 2])], [mx.nd.one_hot(mx.nd.array([0, 1, 2]), 3)])


# ---------------------------------------------------------------------------------------------
# Early stopping, restore_best
# ---------------------------------------------------------------------------------------------

def test_early_stopping_patience():
    _, h = quick_fit(epochs=10, lr=0.0, early_stopping=2)
    assert len(h) == 3 and "early stopping" in h.stopped_reason
    _, h = quick_fit(epochs=10, early_stopping={"patience": 1, "min_delta": 10.0,
                                                "monitor": "val_loss"})
    assert len(h) == 2 and "val_loss" in h.stopped_reason
    _, h = quick_fit(epochs=3, early_stopping=5)
    assert len(h) == 3 and h.stopped_reason is None


def test_restore_best_puts_back_best_epoch_weights():
    # validation labels unrelated to the images: val_loss is best early, then gets worse
    rng = np.random.default_rng(7)
    noisy_val = (VAL[0], rng.permutation(VAL[1]))
    net, h = quick_fit(epochs=4, val=noisy_val, monitor="val_loss", restore_best=True)
    assert h.best_epoch < len(h)
    got = evaluate(net, noisy_val, ctx=mx.cpu())["loss"]
    assert got == pytest.approx(h.best_value, rel=1e-5)
    assert got != pytest.approx(h.epochs[-1]["val_loss"], rel=1e-3)
    assert h.meta["restored_epoch"] == h.best_epoch


# ---------------------------------------------------------------------------------------------
# Checkpoints and exact resume
# ---------------------------------------------------------------------------------------------

def test_checkpoint_files(tmp_path):
    quick_fit(epochs=2, checkpoint_dir=str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert names == ["best.params", "checkpoint.json", "epoch-0002.params", "epoch-0002.states",
                     "history.json", "last.params"]
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["epoch"] == 2 and state["seed"] == 3 and state["iterator_epoch"] == 2
    assert len(History.load(str(tmp_path / "history.json"))) == 2
    net = tiny_net()
    net.load_parameters(str(tmp_path / "last.params"))  # loadable by plain Gluon
    assert os.path.samefile(tmp_path / "last.params", tmp_path / "epoch-0002.params")


class Interrupted(BatchIterator):
    """A training iterator that is 'killed' (KeyboardInterrupt) when epoch ``stop_at`` begins."""
    stop_at = None

    def __iter__(self):
        if self.epoch == self.stop_at:
            raise KeyboardInterrupt
        return super().__iter__()


def run_with_interruption(tmp_path, ctx, stop_at=2, epochs=4, **kw):
    """(straight net, history), (resumed net, history): an uninterrupted run, and the same run
    killed when epoch ``stop_at`` + 1 begins and restarted on a fresh network."""
    kw = dict(epochs=epochs, optimizer="adam", lr=0.01, ctx=ctx, **kw)

    def data(stop):
        it = Interrupted(*TRAIN, batch_size=32, shuffle=True, seed=3, ctx=ctx)
        it.stop_at = stop
        return it

    straight, h1 = quick_fit(net=tiny_net(batchnorm=True, dropout=0.3), train=data(None), **kw)
    folder = str(tmp_path / "ckpt")
    with pytest.raises(KeyboardInterrupt):
        quick_fit(net=tiny_net(batchnorm=True, dropout=0.3), train=data(stop_at),
                  checkpoint_dir=folder, **kw)
    assert json.loads(open(os.path.join(folder, "checkpoint.json")).read())["epoch"] == stop_at
    resumed, h2 = quick_fit(net=tiny_net(batchnorm=True, dropout=0.3), train=data(None),
                            checkpoint_dir=folder, **kw)
    return (straight, h1), (resumed, h2)


def assert_same_run(run1, run2, rtol=1e-6):
    (net1, h1), (net2, h2) = run1, run2
    assert len(h1) == len(h2)
    a, b = params_of(net1), params_of(net2)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=rtol / 10, err_msg=k)
    for r1, r2 in zip(rows_without_timing(h1), rows_without_timing(h2)):
        assert r1 == pytest.approx(r2, rel=rtol)


def test_resume_after_fewer_epochs_continues_exactly(tmp_path):
    # BatchNorm statistics, dropout masks, the shuffle and Adam's moments all carry over
    kw = dict(optimizer="adam", lr=0.01, ctx=mx.cpu())
    straight = quick_fit(net=tiny_net(batchnorm=True, dropout=0.3), epochs=4, **kw)
    quick_fit(net=tiny_net(batchnorm=True, dropout=0.3), epochs=2,
              checkpoint_dir=str(tmp_path), **kw)
    resumed = quick_fit(net=tiny_net(batchnorm=True, dropout=0.3), epochs=4,
                        checkpoint_dir=str(tmp_path), **kw)
    assert_same_run(straight, resumed)


def test_interrupted_run_with_schedule_resumes_exactly(tmp_path):
    # Adam + a cosine schedule sized for 4 epochs: num_update and the schedule must be restored
    straight, resumed = run_with_interruption(tmp_path, mx.cpu(), lr_scheduler="cosine")
    assert_same_run(straight, resumed)
    assert resumed[1].history["lr"][-1] < resumed[1].history["lr"][0]


def test_resume_refuses_other_seed_and_restarts_without_resume(tmp_path):
    quick_fit(epochs=1, checkpoint_dir=str(tmp_path))
    with pytest.raises(ValueError, match="seed=3"):
        quick_fit(epochs=2, checkpoint_dir=str(tmp_path), seed=4)
    _, h = quick_fit(epochs=2, checkpoint_dir=str(tmp_path), seed=4, resume=False)
    assert len(h) == 2 and json.loads((tmp_path / "checkpoint.json").read_text())["seed"] == 4
    _, h = quick_fit(epochs=2, checkpoint_dir=str(tmp_path), seed=None)  # finished: no epochs
    assert len(h) == 2


def test_early_stopped_run_stays_stopped_on_resume(tmp_path):
    _, h = quick_fit(epochs=10, lr=0.0, early_stopping=2, checkpoint_dir=str(tmp_path))
    assert len(h) == 3
    _, again = quick_fit(epochs=10, lr=0.0, early_stopping=2, checkpoint_dir=str(tmp_path))
    assert len(again) == 3 and again.stopped_reason == h.stopped_reason


class NaNAfter(mx.lr_scheduler.LRScheduler):
    """A learning rate that turns NaN after ``at`` updates: the weights, then the loss, go NaN."""

    def __init__(self, at, base_lr=0.01):
        super().__init__(base_lr=base_lr)
        self.at = at

    def __call__(self, num_update):
        return self.base_lr if num_update <= self.at else float("nan")


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    folder = tmp_path / "ckpt"
    with pytest.warns(RuntimeWarning, match="non-finite training loss at epoch 3, batch 2"):
        net, h = quick_fit(epochs=5, lr_scheduler=NaNAfter(2 * BATCHES), log_every=3,
                           checkpoint_dir=str(folder))
    assert len(h) == 2 and "epoch 3" in h.stopped_reason
    assert json.loads((folder / "checkpoint.json").read_text())["epoch"] == 2
    saved = tiny_net()
    saved.load_parameters(str(folder / "epoch-0002.params"))
    now, then = params_of(net), params_of(saved)
    for k in now:
        assert np.isfinite(now[k]).all()
        np.testing.assert_array_equal(now[k], then[k])


def test_nan_raise_mode():
    # the first update makes the weights NaN; the loss of batch 2 is the first NaN loss
    with pytest.raises(TrainingDiverged, match="loss at epoch 1, batch 2") as info:
        quick_fit(epochs=2, lr_scheduler=NaNAfter(0), on_nan="raise")
    assert info.value.epoch == 1 and info.value.batch == 2 and len(info.value.history) == 0


def test_nan_in_inputs_is_refused_before_training():
    x = TRAIN[0].astype(np.float32) / 255
    x[5] = np.nan  # refused by the array checks (batches.py) before any batch runs
    with pytest.raises(ValueError, match="images: 1 image.* NaN or infinite pixels .*image 5"):
        quick_fit(train=(x, TRAIN[1]), epochs=2)


# ---------------------------------------------------------------------------------------------
# Several devices
# ---------------------------------------------------------------------------------------------

def test_two_contexts_match_one():
    one, h1 = quick_fit(epochs=2, ctx=mx.cpu(0))
    two, h2 = quick_fit(epochs=2, ctx=[mx.cpu(0), mx.cpu(1)])
    assert h2.meta["contexts"] == ["cpu(0)", "cpu(1)"]
    a, b = params_of(one), params_of(two)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=k)
    for r1, r2 in zip(rows_without_timing(h1), rows_without_timing(h2)):
        assert r1 == pytest.approx(r2, rel=1e-4)


def test_two_contexts_with_batchnorm_are_deterministic():
    # MXNet 1.9.1 with static_alloc on two contexts sometimes lost a BatchNorm statistics
    # update (about 1 run in 4); fit hybridizes without static memory there
    runs = set()
    for _ in range(4):
        net, h = quick_fit(net=tiny_net(batchnorm=True), epochs=1, ctx=[mx.cpu(0), mx.cpu(1)])
        runs.add((h.epochs[0]["val_loss"], params_of(net)["1.running_var"].tobytes()))
    assert len(runs) == 1


def test_batchnorm_statistics_are_averaged_over_devices():
    net = tiny_net(batchnorm=True)
    net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    net(mx.nd.zeros((1, 1, 28, 28), ctx=mx.cpu(0)))
    mean = net[1].running_mean
    mean.data(mx.cpu(0))[:] = 1.0
    mean.data(mx.cpu(1))[:] = 3.0
    average_statistics(net)
    assert [d.asnumpy().tolist() for d in mean.list_data()] == [[2.0] * 4, [2.0] * 4]


def test_two_contexts_resume_and_predict(tmp_path):
    ctx = [mx.cpu(0), mx.cpu(1)]
    straight, (resumed, h) = run_with_interruption(tmp_path, ctx, stop_at=1, epochs=2,
                                                   lr_scheduler="step")
    assert_same_run(straight, (resumed, h))
    p1, _ = predict(resumed, VAL[0], ctx=ctx)
    p2, _ = predict(resumed, VAL[0], ctx=mx.cpu())
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------

def test_history_json_and_csv_round_trip(tmp_path):
    _, h = quick_fit(epochs=3, metrics=["accuracy", "f1"])
    h.stopped_reason = "because"
    for name in ("h.json", "h.csv"):
        path = str(tmp_path / name)
        h.save(path)
        back = History.load(path)
        assert back.epochs == h.epochs
        assert back.best_epoch == h.best_epoch and back.best_value == h.best_value
    assert History.load(str(tmp_path / "h.json")).stopped_reason == "because"
    assert History.load(str(tmp_path / "h.json")).meta == h.meta
    with pytest.raises(ValueError, match=".json or .csv"):
        h.save(str(tmp_path / "h.txt"))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


def test_history_best_and_keras_style_dict():
    h = History.from_dict({"train_loss": [3.0, 2.0, 2.5], "val_loss": [1.0, 0.5, 0.7],
                           "val_accuracy": [0.5, 0.4, 0.6]})
    assert h.epochs[1] == {"train_loss": 2.0, "val_loss": 0.5, "val_accuracy": 0.4, "epoch": 2}
    assert (h.best_epoch, h.best_value) == (3, 0.6)
    h.monitor = "val_loss"
    assert (h.best_epoch, h.best_value) == (2, 0.5)
    h.monitor = "loss"
    assert h.best_epoch == 2  # "loss" means train_loss
    assert History().best_epoch is None and "0 epochs" in repr(History())
    with pytest.raises(ValueError, match="equally long"):
        History.from_dict({"a": [1], "b": [1, 2]})


# ---------------------------------------------------------------------------------------------
# evaluate / predict
# ---------------------------------------------------------------------------------------------

def test_evaluate_and_predict_agree():
    net, _ = quick_fit(epochs=2)
    probs, labels = predict(net, VAL[0], ctx=mx.cpu(), batch_size=7)
    assert probs.shape == (80, 10) and labels.shape == (80,)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (labels == probs.argmax(axis=1)).all()
    ev = evaluate(net, VAL, ctx=mx.cpu(), batch_size=13)
    assert ev["accuracy"] == pytest.approx(np.mean(labels == VAL[1]))
    assert ev["loss"] == pytest.approx(-np.mean(np.log(probs[np.arange(80), VAL[1]])), rel=1e-4)
    it = BatchIterator(*VAL, batch_size=16, ctx=mx.cpu())
    assert evaluate(net, it)["accuracy"] == pytest.approx(ev["accuracy"])
    assert np.array_equal(predict(net, it)[1], labels)


def test_flip_tta_averages_the_image_and_its_mirror():
    net, _ = quick_fit(epochs=2)
    x, y = VAL
    plain, _ = predict(net, x, ctx=mx.cpu())
    mirrored, _ = predict(net, x[:, :, ::-1], ctx=mx.cpu())
    probs, labels = predict(net, x, ctx=mx.cpu(), batch_size=7, tta="flip")
    np.testing.assert_allclose(probs, (plain + mirrored) / 2, rtol=1e-4, atol=1e-6)
    assert not np.allclose(probs, plain, atol=1e-3)  # the mirror really was seen
    assert (labels == probs.argmax(axis=1)).all()
    ev = evaluate(net, VAL, ctx=mx.cpu(), batch_size=13, tta="flip")
    assert ev["accuracy"] == pytest.approx(np.mean(labels == y))
    assert ev["loss"] == pytest.approx(-np.mean(np.log(probs[np.arange(len(y)), y])), rel=1e-4)


def test_flip_tta_loss_stays_finite_when_probabilities_underflow():
    net, _ = quick_fit(epochs=1)
    dense = net[-1]
    dense.weight.set_data(dense.weight.data() * 1e4)  # logits ~1e4 apart: exp() underflows to 0
    x, y = VAL
    logits = net(mx.nd.array(x[:, None] / 255.0)).asnumpy()
    mirror = net(mx.nd.array(x[:, None, :, ::-1] / 255.0)).asnumpy()

    def log_softmax(z):
        return z - np.logaddexp.reduce(z, axis=1, keepdims=True)

    want = -np.mean((np.logaddexp(log_softmax(logits), log_softmax(mirror)) - np.log(2))[np.arange(len(y)), y])
    got = evaluate(net, VAL, ctx=mx.cpu(), tta="flip")["loss"]
    assert np.isfinite(got) and want > 100
    assert got == pytest.approx(want, rel=1e-3)


def test_unknown_tta_is_refused_with_the_choices():
    net, _ = quick_fit(epochs=1)
    for call in (lambda: evaluate(net, VAL, tta="rotate"), lambda: predict(net, VAL[0], tta="flips")):
        with pytest.raises(ValueError, match=r"tta: expected None or one of \['flip'\], got"):
            call()


def test_evaluate_uninitialised_net_says_so():
    with pytest.raises(RuntimeError, match="not initialised"):
        evaluate(tiny_net(), VAL)
    with pytest.raises(RuntimeError, match="not initialised"):
        predict(tiny_net(), VAL[0])


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------

def test_quiet_mode_prints_nothing(capfd):
    quick_fit(epochs=1, verbose=0)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_verbose_levels_print(capfd):
    quick_fit(epochs=2, verbose=2)
    out, _ = capfd.readouterr()
    assert out.count("epoch ") == 2 and "val_acc" in out
    quick_fit(epochs=2, verbose=1)  # not a terminal: one line per epoch, no bar frames
    out, err = capfd.readouterr()
    assert out.count("epoch ") == 2 and "\r" not in out + err


def test_progress_bar_on_a_terminal(capfd, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    quick_fit(epochs=1, verbose=1)
    out, err = capfd.readouterr()
    assert "epoch 1/1" in err and "8/8" in err and out == ""


# ---------------------------------------------------------------------------------------------
# label smoothing
# ---------------------------------------------------------------------------------------------

def test_smoothed_cross_entropy_matches_its_formula():
    from fmnist_gluon.train import smoothed_cross_entropy

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 4, 2])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    eps = 0.2
    expected = -(1 - eps) * logp[np.arange(6), labels] - eps * logp.mean(axis=1)
    got = smoothed_cross_entropy(eps)(mx.nd.array(logits), mx.nd.array(labels)).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    plain = mx.gluon.loss.SoftmaxCrossEntropyLoss()(mx.nd.array(logits), mx.nd.array(labels))
    np.testing.assert_allclose(smoothed_cross_entropy(0.0)(mx.nd.array(logits), mx.nd.array(labels))
                               .asnumpy(), plain.asnumpy(), rtol=1e-6)


def test_label_smoothing_changes_training_not_the_validation_loss():
    net_a, plain = quick_fit(epochs=2)
    net_b, smooth = quick_fit(epochs=2, label_smoothing=0.3)
    assert rows_without_timing(plain) != rows_without_timing(smooth)
    # val_loss is the plain cross-entropy of the trained net, whatever it was trained with
    again = T.evaluate(net_b, VAL, ctx=mx.cpu(), metrics=["accuracy"])
    assert smooth.epochs[-1]["val_loss"] == pytest.approx(again["loss"], rel=1e-5)
    # smoothing keeps the probabilities away from 1: a larger training loss at similar accuracy
    assert smooth.epochs[-1]["train_loss"] > plain.epochs[-1]["train_loss"]


@pytest.mark.parametrize("bad", [-0.1, 1.0, "0.1", None])
def test_label_smoothing_is_validated(bad):
    with pytest.raises(ValueError, match="label_smoothing"):
        quick_fit(epochs=1, label_smoothing=bad)
