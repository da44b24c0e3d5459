"""Checkpoints: after every epoch, the parameters, the trainer state, the history and every
callback's state, so that a later ``fit`` call with the same arguments continues exactly.

A checkpoint folder holds ``epoch-NNNN.params`` (``net.save_parameters``), ``epoch-NNNN.states``
(``trainer.save_states``: momenta, Adam moments, ``num_update``, the schedule) and
``checkpoint.json``, the only file a resume trusts, written last, naming the two others. For
people and other tools: ``last.params`` and ``best.params`` (hard links) and ``history.json``.
Every file is written under a temporary name and renamed, so a crash or a full disk at any
point leaves the previous complete checkpoint loadable.

``checkpoint.json`` (format 2)::

    {"format": 2, "epoch": 3, "seed": 0, "batch_size": 128, "iterator_epoch": 3,
     "params": "epoch-0003.params", "states": "epoch-0003.states",
     "history": {History.to_dict()}, "callbacks": {"BestEpoch": {...}, "EarlyStopping": {...}}}

Format 1 (before callbacks) had ``early_stopping_best`` / ``early_stopping_wait`` instead of
``callbacks``; it is read and continued as well.
"""
import errno
import json
import os
import pickle
import shutil

import mxnet as mx
import numpy as np
from mxnet import nd

from ..history import History, json_default
from ..utils import atomic_path, atomic_write_text

__all__ = ["Checkpoint", "CheckpointError", "CHECKPOINT_FILE", "CHECKPOINT_FORMAT", "run_seed",
           "state_keys"]

CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_FORMAT = 2
READABLE_FORMATS = (1, 2)
_REQUIRED = ("epoch", "seed", "batch_size", "params", "states", "history", "callbacks")
# What reading a damaged file can raise: MXNet's C++ errors, pickle, JSON, truncation.
_READ_ERRORS = (mx.base.MXNetError, OSError, ValueError, EOFError, pickle.UnpicklingError,
                AssertionError, KeyError, TypeError, IndexError)


def _as_os_error(err, folder):
    """``err`` as an OSError. MXNet's writers (save_parameters, save_states) report a short
    write as a bare MXNetError ("FileStream.Write incomplete"); a full disk is the usual cause,
    so it becomes ENOSPC when the folder's file system has no room left, EIO otherwise."""
    if isinstance(err, OSError):
        return err
    try:
        stat = os.statvfs(folder)
        full = stat.f_bavail * stat.f_frsize < 1 << 20
    except OSError:
        full = False
    code = errno.ENOSPC if full else errno.EIO
    return OSError(code, "%s (MXNet: %s)" % (os.strerror(code), str(err).strip().splitlines()[-1]))


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be resumed (damaged, or written by another version)."""


def state_keys(callbacks):
    """A checkpoint key per callback: its class name, with "#2", "#3" for repeats."""
    keys, seen = [], {}
    for cb in callbacks:
        name = type(cb).__name__
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else "%s#%d" % (name, seen[name]))
    return keys


def _link_atomic(src, dst):
    """Make ``dst`` the same file as ``src`` (a hard link, else a copy), replaced atomically."""
    with atomic_path(dst) as tmp:
        os.remove(tmp)
        try:
            os.link(src, tmp)
        except OSError:  # a file system without hard links
            shutil.copyfile(src, tmp)


class Checkpoint:
    """The checkpoint folder of one run: ``load`` what a previous call saved, ``save`` an
    epoch. Errors name the file and say what to do (delete it, or ``resume=False``)."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.saved_epoch = None  # the epoch of the last complete checkpoint in the folder

    def _path(self, name):
        return os.path.join(self.folder, name)

    def _damaged(self, name, err):
        return CheckpointError(
            "checkpoint_dir %s: %s cannot be read (%s: %s); the checkpoint is damaged. Delete "
            "the folder (or give another checkpoint_dir), or pass resume=False to start afresh"
            % (self.folder, name, type(err).__name__, str(err).strip().splitlines()[0]
               if str(err).strip() else "truncated"))

    # -- reading --------------------------------------------------------------------------
    def load(self):
        """The saved state (format-2 layout), or None when the folder holds no checkpoint."""
        path = self._path(CHECKPOINT_FILE)
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
            if not isinstance(state, dict):
                raise ValueError("expected a JSON object, got %s" % type(state).__name__)
        except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError included
            raise self._damaged(CHECKPOINT_FILE, err) from None
        fmt = state.get("format")
        if fmt not in READABLE_FORMATS:
            raise CheckpointError(
                "%s: checkpoint format %r, but this fmnist_gluon reads formats %s: it was written "
                "by another version. Resume it with that version, or pass resume=False (or "
                "another checkpoint_dir) to start afresh"
                % (path, fmt, " and ".join(map(str, READABLE_FORMATS))))
        if fmt == 1:
            state = dict(state, callbacks={"EarlyStopping": {
                "best": state.get("early_stopping_best"),
                "wait": state.get("early_stopping_wait", 0)}})
        missing = [k for k in _REQUIRED if k not in state]
        if missing:
            raise self._damaged(CHECKPOINT_FILE, KeyError("no %s" % ", ".join(missing)))
        for name in (state["params"], state["states"]):
            if not os.path.exists(self._path(name)):
                raise self._damaged(name, FileNotFoundError("named by %s but missing"
                                                            % CHECKPOINT_FILE))
        self.saved_epoch = state["epoch"]
        return state

    def load_params(self, net, state, ctxs):
        """Put the saved parameters into ``net`` on ``ctxs``."""
        name = state["params"]
        try:
            nd.load(self._path(name))
        except _READ_ERRORS as err:
            raise self._damaged(name, err) from None
        try:
            net.load_parameters(self._path(name), ctx=ctxs)
        except _READ_ERRORS as err:
            raise CheckpointError(
                "checkpoint_dir %s: %s holds the parameters of another network (%s). Train the "
                "same network, give another checkpoint_dir, or pass resume=False"
                % (self.folder, name, str(err).strip().splitlines()[0])) from None

    def load_trainer(self, trainer, state):
        """Put the saved optimizer state (momenta, num_update, schedule) into ``trainer``."""
        try:
            trainer.load_states(self._path(state["states"]))
        except _READ_ERRORS as err:
            raise self._damaged(state["states"], err) from None

    def load_best(self):
        """The parameters of ``best.params`` as a CPU snapshot, or None when there is none."""
        path = self._path("best.params")
        if not os.path.exists(path):
            return None
        try:
            return {k: v.as_in_context(mx.cpu()) for k, v in nd.load(path).items()}
        except _READ_ERRORS as err:
            raise self._damaged("best.params", err) from None

    @staticmethod
    def restore_callbacks(callbacks, state):
        """Hand every callback the state it saved (a callback new to this run starts fresh)."""
        saved = state["callbacks"]
        for key, cb in zip(state_keys(callbacks), callbacks):
            if key in saved:
                cb.load_state(saved[key])

    # -- writing --------------------------------------------------------------------------
    def save(self, epoch, net, trainer, history, callbacks, seed, batch_size, improved):
        """Write the checkpoint of ``epoch``; on an OSError (disk full, ...) raise one that
        names the folder and says the previous checkpoint still loads."""
        done = False
        try:
            done = self._write(epoch, net, trainer, history, callbacks, seed, batch_size,
                               improved)
        except (OSError, mx.base.MXNetError) as err:
            err = _as_os_error(err, self.folder)
            last = epoch if self.saved_epoch == epoch else self.saved_epoch
            kept = ("the last complete checkpoint there (epoch %d) still loads" % last
                    if last else "no complete checkpoint is there yet")
            raise OSError(err.errno, "could not write the checkpoint of epoch %d into folder %s "
                          "(%s); %s. Free some space (or give another checkpoint_dir) and run "
                          "the same call again to resume"
                          % (epoch, self.folder, err.strerror or err, kept)) from err
        return done

    def _write(self, epoch, net, trainer, history, callbacks, seed, batch_size, improved):
        os.makedirs(self.folder, exist_ok=True)
        tag = "epoch-%04d" % epoch
        params, states = tag + ".params", tag + ".states"
        with atomic_path(self._path(params)) as tmp:
            net.save_parameters(tmp)
        with atomic_path(self._path(states)) as tmp:
            trainer.save_states(tmp)
        state = {"format": CHECKPOINT_FORMAT, "epoch": epoch, "seed": int(seed),
                 "batch_size": batch_size, "iterator_epoch": epoch, "params": params,
                 "states": states, "history": history.to_dict(),
                 "callbacks": {k: cb.state() for k, cb in zip(state_keys(callbacks), callbacks)}}
        atomic_write_text(self._path(CHECKPOINT_FILE),
                          json.dumps(state, indent=1, default=json_default))
        self.saved_epoch = epoch  # from here on, the new checkpoint is the complete one
        _link_atomic(self._path(params), self._path("last.params"))
        if improved:
            _link_atomic(self._path(params), self._path("best.params"))
        History.from_dict(state["history"]).save(self._path("history.json"))
        for name in os.listdir(self.folder):  # older epochs, temporaries of a killed writer
            old_epoch = name.startswith("epoch-") and name not in (params, states)
            if old_epoch or name.startswith(".tmp-"):
                os.remove(self._path(name))
        return True


def run_seed(seed, saved, batch_size, checkpoint_dir):
    """The run's seed: the checkpoint's when resuming (a different one is an error), else
    ``seed``, else a fresh draw (recorded in the History, so the run can be repeated)."""
    if saved is not None:
        if seed is not None and seed != saved["seed"]:
            raise ValueError("checkpoint_dir %s holds a run with seed=%d, now seed=%d: pass the "
                             "same seed (or seed=None), resume=False to start again, or another "
                             "checkpoint_dir" % (checkpoint_dir, saved["seed"], seed))
        if batch_size != saved["batch_size"]:
            raise ValueError("checkpoint_dir %s holds a run with batch_size=%d, now %d: resuming "
                             "would not continue the same run; pass resume=False to start again "
                             "or another checkpoint_dir"
                             % (checkpoint_dir, saved["batch_size"], batch_size))
        return int(saved["seed"])
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % (2 ** 31))
    return int(seed)
