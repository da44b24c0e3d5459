"""TensorBoardLogger: fit's per-epoch rows as TensorBoard scalars, read back from the event file."""
import glob
import struct

import mxnet as mx
import pytest

pytest.importorskip("tensorboardX")

from tensorboardX.proto import event_pb2  # noqa: E402

from fmnist_gluon import build_cnn, fit  # noqa: E402
from fmnist_gluon.tensorboard import TensorBoardLogger, scalar_tag  # noqa: E402

from conftest import signal_images  # noqa: E402


def read_events(logdir):
    """Every Event of every event file in ``logdir`` (TFRecord framing: length, its CRC, the
    record, its CRC)."""
    events = []
    for path in sorted(glob.glob(str(logdir / "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[at + 12:at + 12 + length])
            events.append(event)
            at += 12 + length + 4
    return events


def scalars(events):
    """{tag: {step: value}}; a later event for the same step replaces an earlier one."""
    out = {}
    for e in events:
        for v in e.summary.value:
            out.setdefault(v.tag, {})[e.step] = v.simple_value
    return out


def test_tags():
    assert scalar_tag("val_accuracy") == "accuracy/val"
    assert scalar_tag("train_loss") == "loss/train"
    assert scalar_tag("lr") == "lr"


def test_every_epoch_row_is_in_the_event_file(tmp_path):
    x, y = signal_images(80, seed=0)
    net = build_cnn("conv4k3-bn-relu-pool2-dense10")
    history = fit(net, (x, y), val=(x[:40], y[:40]), epochs=3, batch_size=16, seed=0,
                  optimizer="adam", lr=1e-3, verbose=0,
                  callbacks=[TensorBoardLogger(tmp_path / "tb", graph=True)])
    events = read_events(tmp_path / "tb")
    got = scalars(events)
    for row in history.epochs:
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            assert got[scalar_tag(key)][row["epoch"]] == pytest.approx(row[key], rel=1e-6)
    assert sorted(got["loss/val"]) == [1, 2, 3]
    graphs = [e for e in events if e.graph_def]
    assert len(graphs) == 1
    from tensorboardX.proto.graph_pb2 import GraphDef

    graph = GraphDef()
    graph.ParseFromString(graphs[0].graph_def)
    ops = [n.op for n in graph.node]
    assert {"Convolution", "BatchNorm", "Pooling", "FullyConnected"} <= set(ops)


def test_a_resumed_run_logs_each_epoch_once(tmp_path):
    x, y = signal_images(80, seed=0)
    kwargs = dict(val=(x[:40], y[:40]), batch_size=16, seed=0, optimizer="adam", lr=1e-3,
                  verbose=0, checkpoint_dir=str(tmp_path / "ckpt"))
    fit(build_cnn("conv4k3-relu-gap"), (x, y), epochs=2,
        callbacks=[TensorBoardLogger(tmp_path / "tb")], **kwargs)
    mx.random.seed(0)
    history = fit(build_cnn("conv4k3-relu-gap"), (x, y), epochs=4,
                  callbacks=[TensorBoardLogger(tmp_path / "tb")], **kwargs)
    got = scalars(read_events(tmp_path / "tb"))
    assert sorted(got["accuracy/val"]) == [1, 2, 3, 4]
    for row in history.epochs:
        assert got["accuracy/val"][row["epoch"]] == pytest.approx(row["val_accuracy"], rel=1e-6)


def test_train_command_logs_to_tensorboard(tmp_path, monkeypatch, idx_dir, capsys):
    from fmnist_gluon import cli

    monkeypatch.setenv("FMNIST_GLUON_DATA", str(idx_dir))
    status = cli.main(["train", "conv4k3-relu-gap", "--epochs", "2", "--batch-size", "16",
                       "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb"),
                       "--progress", "none"])
    assert status == 0, capsys.readouterr().err
    from fmnist_gluon.train import History

    history = History.load(str(tmp_path / "run" / "history.json"))
    got = scalars(read_events(tmp_path / "tb"))
    assert sorted(got["loss/train"]) == [1, 2]
    assert got["loss/train"][2] == pytest.approx(history.epochs[1]["train_loss"], rel=1e-6)
