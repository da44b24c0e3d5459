"""Checkpoints: the format-1 layout still resumes, damaged files and full disks give clear
errors, and a callback's state survives a SIGKILL and resume exactly."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest

from fmnist_gluon.train import CheckpointError, EarlyStopping
from test_train import params_of, quick_fit, rows_without_timing, tiny_net

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT1 = os.path.join(HERE, "data", "checkpoint_format1")


def as_format_1(folder):
    """Rewrite the checkpoint in ``folder`` into format 1, the layout main wrote before
    callbacks (tests/data/checkpoint_format1 is one such file, written by that code): early
    stopping's state as two top-level keys, no per-callback states, and no last.params or
    history.json, which a resume does not read."""
    path = folder / "checkpoint.json"
    state = json.loads(path.read_text())
    es = state.pop("callbacks")["EarlyStopping"]
    state.update(format=1, early_stopping_best=es["best"], early_stopping_wait=es["wait"])
    path.write_text(json.dumps(state))
    for name in ("last.params", "history.json"):
        os.remove(folder / name)
    old_keys = set(json.loads(open(os.path.join(FORMAT1, "checkpoint.json")).read()))
    assert set(state) == old_keys  # the same layout as the file main's code wrote


def test_a_format_1_checkpoint_resumes_exactly(tmp_path):
    # The format-1 checkpoint is made in this test, from the first 2 epochs of the same run, so
    # that the comparison is bit-exact on any machine: a resume replays epoch e from (seed, e),
    # the saved trainer state and the saved weights (a stored file would carry the rounding of
    # the machine and thread count that wrote it).
    kw = dict(epochs=4, restore_best=True, monitor="val_loss")
    net = lambda: tiny_net(batchnorm=True, dropout=0.3)  # noqa: E731
    straight_es = EarlyStopping(monitor="val_loss", patience=3)
    straight, h1 = quick_fit(net=net(), callbacks=[straight_es], **kw)
    folder = tmp_path / "old"
    quick_fit(net=net(), callbacks=[EarlyStopping(monitor="val_loss", patience=3)],
              checkpoint_dir=str(folder), **dict(kw, epochs=2))
    as_format_1(folder)
    resumed_es = EarlyStopping(monitor="val_loss", patience=3)
    resumed, h2 = quick_fit(net=net(), callbacks=[resumed_es], checkpoint_dir=str(folder), **kw)
    assert rows_without_timing(h1) == rows_without_timing(h2) and len(h2) == 4
    a, b = params_of(straight), params_of(resumed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert resumed_es.state() == straight_es.state()
    assert h2.meta["restored_epoch"] == h1.meta["restored_epoch"]
    saved = json.loads((folder / "checkpoint.json").read_text())
    assert saved["format"] == 2 and saved["callbacks"]["EarlyStopping"] == straight_es.state()


def test_a_format_1_checkpoints_early_stopping_state_is_restored(tmp_path):
    old = json.loads(open(os.path.join(FORMAT1, "checkpoint.json")).read())
    folder = tmp_path / "old"
    shutil.copytree(FORMAT1, folder)
    es = EarlyStopping(monitor="val_loss", patience=3)
    _, h = quick_fit(net=tiny_net(batchnorm=True, dropout=0.3), epochs=2, monitor="val_loss",
                     restore_best=True, callbacks=[es], checkpoint_dir=str(folder))
    assert len(h) == 2  # the run had done its 2 epochs: nothing to train
    assert es.state() == {"best": old["early_stopping_best"], "wait": old["early_stopping_wait"]}
    assert es.best is not None


def checkpointed(tmp_path, epochs=2, **kw):
    folder = tmp_path / "ckpt"
    quick_fit(epochs=epochs, checkpoint_dir=str(folder), **kw)
    return folder


def test_unknown_format_is_refused(tmp_path):
    folder = checkpointed(tmp_path)
    state = json.loads((folder / "checkpoint.json").read_text())
    (folder / "checkpoint.json").write_text(json.dumps(dict(state, format=99)))
    with pytest.raises(CheckpointError, match="format 99.*reads formats 1 and 2.*resume=False"):
        quick_fit(epochs=3, checkpoint_dir=str(folder))


@pytest.mark.parametrize("damage", ["garbled json", "truncated params", "truncated states",
                                    "missing params", "truncated best"])
def test_damaged_checkpoint_names_the_file_and_the_way_out(tmp_path, damage):
    folder = checkpointed(tmp_path)
    target = {"garbled json": "checkpoint.json", "truncated params": "epoch-0002.params",
              "truncated states": "epoch-0002.states", "missing params": "epoch-0002.params",
              "truncated best": "best.params"}[damage]
    path = folder / target
    if damage == "missing params":
        path.unlink()
    else:
        data = path.read_bytes()
        path.unlink()  # a new file: best.params and last.params are hard links to epoch files
        path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError) as info:  # restore_best reads best.params too
        quick_fit(epochs=3, checkpoint_dir=str(folder), restore_best=True)
    message = str(info.value)
    assert target in message and str(folder) in message and "resume=False" in message
    _, h = quick_fit(epochs=3, checkpoint_dir=str(folder), resume=False)  # the way out works
    assert len(h) == 3


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    folder = checkpointed(tmp_path)
    real = mx.gluon.Trainer.save_states

    def full_disk(self, fname):
        with open(fname, "wb") as f:
            f.write(b"half")  # a partial file, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), fname)

    monkeypatch.setattr(mx.gluon.Trainer, "save_states", full_disk)
    with pytest.raises(OSError) as info:
        quick_fit(epochs=4, checkpoint_dir=str(folder))
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert str(folder) in message and "epoch 3" in message
    assert "last complete checkpoint there (epoch 2) still loads" in message
    monkeypatch.setattr(mx.gluon.Trainer, "save_states", real)
    assert json.loads((folder / "checkpoint.json").read_text())["epoch"] == 2
    assert not [n for n in os.listdir(folder) if n.startswith(".tmp-")]
    resumed, h = quick_fit(epochs=4, checkpoint_dir=str(folder))
    straight, h0 = quick_fit(epochs=4)
    assert rows_without_timing(h) == rows_without_timing(h0)


SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    import mxnet as mx
    sys.path.insert(0, {tests!r})
    from conftest import signal_images
    from test_train import tiny_net
    from fmnist_gluon.train import Callback, ReduceLROnPlateau, fit

    class Tally(Callback):
        '''Stateful: counts sync points and keeps every epoch's training loss; kills its own
        process at the second sync point of epoch 3 when KILL is set (after the checkpoint
        of epoch 2, with its own state already changed in epoch 3).'''
        def __init__(self):
            self.syncs, self.losses = 0, []
        def on_batch_end(self, batch, logs):
            self.syncs += 1
            if os.environ.get("KILL") and len(self.history) == 2 and batch == 4:
                os.kill(os.getpid(), signal.SIGKILL)
        def on_epoch_end(self, epoch, row):
            self.losses.append(row["train_loss"])
        def state(self):
            return {{"syncs": self.syncs, "losses": self.losses}}
        def load_state(self, state):
            self.syncs, self.losses = state["syncs"], state["losses"]

    out = sys.argv[1]
    x, y = signal_images(160, 0)
    tally = Tally()
    plateau = ReduceLROnPlateau(monitor="train_loss", factor=0.5, patience=1, min_delta=10.0)
    net = tiny_net(batchnorm=True, dropout=0.3)
    h = fit(net, (x, y), epochs=4, optimizer="adam", lr=0.01, batch_size=32, seed=5,
            verbose=0, ctx=mx.cpu(), log_every=2, checkpoint_dir=os.path.join(out, "ckpt"),
            callbacks=[tally, plateau])
    net.save_parameters(os.path.join(out, "final.params"))
    rows = [{{k: v for k, v in r.items() if k not in ("seconds", "images_per_sec")}}
            for r in h.epochs]
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump({{"tally": tally.state(), "plateau": plateau.state(), "rows": rows}}, f)
""")


def run_script(script, out, kill):
    env = dict(os.environ, KILL="1" if kill else "")
    return subprocess.run([sys.executable, str(script), str(out)], env=env, timeout=300,
                          capture_output=True, text=True)


def test_callback_state_survives_sigkill_and_resume(tmp_path):
    # Expected bit-exact: the resumed call replays epoch 3 from the (seed, epoch) streams and
    # the checkpoint of epoch 2 (weights, Adam state, and the callbacks' state).
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=HERE))
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir()
    killed.mkdir()
    done = run_script(script, straight, kill=False)
    assert done.returncode == 0, done.stderr
    died = run_script(script, killed, kill=True)
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert json.loads((killed / "ckpt" / "checkpoint.json").read_text())["epoch"] == 2
    assert not (killed / "result.json").exists()
    again = run_script(script, killed, kill=False)
    assert again.returncode == 0, again.stderr
    a = json.loads((straight / "result.json").read_text())
    b = json.loads((killed / "result.json").read_text())
    assert a["tally"]["syncs"] == 4 * 3 and len(a["tally"]["losses"]) == 4
    assert a == b  # the callbacks' state, the learning rates and every history row
    wa, wb = mx.nd.load(str(straight / "final.params")), mx.nd.load(str(killed / "final.params"))
    assert sorted(wa) == sorted(wb)
    for k in wa:
        np.testing.assert_array_equal(wa[k].asnumpy(), wb[k].asnumpy(), err_msg=k)
