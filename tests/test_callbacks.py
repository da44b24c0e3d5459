"""Callbacks: the protocol fit calls, user callbacks that stop training, the built-in extras."""
import csv

import mxnet as mx
import pytest

from fmnist_gluon.train import (BestEpoch, Callback, CSVLogger, EarlyStopping, History,
                                ReduceLROnPlateau, fit)
from test_train import BATCHES, TRAIN, VAL, quick_fit, tiny_net


class Recorder(Callback):
    """Records every hook call."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs):
        self.calls.append(("train_begin", logs["start_epoch"]))
        self.seen = (self.net, self.trainer, self.history, dict(self.params))

    def on_epoch_begin(self, epoch):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs):
        self.calls.append(("batch", batch, len(logs["batch_losses"]), "accuracy" in logs))

    def on_epoch_end(self, epoch, row):
        self.calls.append(("epoch_end", epoch, row["epoch"]))

    def on_train_end(self, history):
        self.calls.append(("train_end", len(history)))


def test_hooks_run_at_the_sync_points_only():
    rec = Recorder()
    net, h = quick_fit(epochs=2, log_every=3, callbacks=[rec])
    per_epoch = [("batch", 3, 3, True), ("batch", 6, 3, True), ("batch", BATCHES, 2, True)]
    assert BATCHES == 8
    assert rec.calls == ([("train_begin", 0)]
                         + [("epoch_begin", 1)] + per_epoch + [("epoch_end", 1, 1)]
                         + [("epoch_begin", 2)] + per_epoch + [("epoch_end", 2, 2)]
                         + [("train_end", 2)])
    got_net, trainer, history, params = rec.seen
    assert got_net is net and history is h and isinstance(trainer, mx.gluon.Trainer)
    assert params["epochs"] == 2 and params["batches_per_epoch"] == BATCHES
    assert "val_loss" in params["keys"] and params["has_val"]


class StopWhenAccurate(Callback):
    def __init__(self, target):
        self.target = target

    def on_epoch_end(self, epoch, row):
        if row["val_accuracy"] >= self.target:
            return "val_accuracy reached %.2f" % self.target


def test_user_callback_stops_training():
    _, h = quick_fit(epochs=10, callbacks=[StopWhenAccurate(0.0)])
    assert len(h) == 1 and h.stopped_reason == "val_accuracy reached 0.00"
    _, h = quick_fit(epochs=10, callbacks=[StopWhenAccurate(2.0)])  # unreachable
    assert len(h) == 10 and h.stopped_reason is None


def test_a_true_stop_request_gets_a_generic_reason():
    class StopAtThree(Callback):
        def on_epoch_end(self, epoch, row):
            return epoch == 3

    _, h = quick_fit(epochs=10, callbacks=[StopAtThree()])
    assert len(h) == 3 and h.stopped_reason == "stopped by StopAtThree (on_epoch_end, epoch 3)"


def test_builtin_callbacks_replace_the_shorthands():
    es = EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0)
    _, h = quick_fit(epochs=10, callbacks=[es])
    assert len(h) == 2 and es.wait == 1 and h.stopped_reason.startswith("early stopping: val_loss")
    _, h2 = quick_fit(epochs=10, early_stopping={"patience": 1, "min_delta": 10.0,
                                                 "monitor": "val_loss"})
    assert h2.stopped_reason == h.stopped_reason
    best = BestEpoch(monitor="val_loss")
    _, h = quick_fit(epochs=2, callbacks=[best])
    assert h.monitor == "val_loss" and best.best == min(h.history["val_loss"])
    with pytest.raises(ValueError, match="EarlyStopping and early_stopping=2"):
        quick_fit(callbacks=[EarlyStopping()], early_stopping=2)
    with pytest.raises(TypeError, match="Callback instances"):
        quick_fit(callbacks=[lambda *a: None])
    with pytest.raises(ValueError, match="monitor='val_acc' is not recorded"):
        quick_fit(callbacks=[EarlyStopping(monitor="val_acc")])


def test_fit_arguments_after_epochs_are_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        fit(tiny_net(), TRAIN, VAL, 1, "adam")


def test_csv_logger_writes_the_history(tmp_path):
    path = tmp_path / "log.csv"
    _, h = quick_fit(epochs=3, callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert History.load(str(path)).history["val_loss"] == h.history["val_loss"]


def test_reduce_lr_on_plateau_sets_the_trainers_rate():
    # min_delta=10: no epoch after the first counts as an improvement
    cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=10.0)
    _, h = quick_fit(epochs=4, lr=0.01, callbacks=[cb])
    assert h.history["lr"] == pytest.approx([0.01, 0.01, 0.005, 0.0025])
    assert cb.state()["lr"] == pytest.approx(0.00125)
    with pytest.raises(ValueError, match="lr_scheduler=None"):
        quick_fit(epochs=1, lr_scheduler="cosine", callbacks=[ReduceLROnPlateau()])


def test_a_stop_inside_an_epoch_keeps_no_partial_row(tmp_path):
    class StopAtBatch(Callback):
        def on_batch_end(self, batch, logs):
            if len(self.history) == 1 and batch >= 4:
                return "enough at batch %d" % batch

    folder = tmp_path / "ckpt"
    _, h = quick_fit(epochs=5, log_every=2, callbacks=[StopAtBatch()], checkpoint_dir=str(folder))
    assert len(h) == 1 and h.stopped_reason == "enough at batch 4"
    assert (folder / "epoch-0001.params").exists() and not (folder / "epoch-0002.params").exists()
