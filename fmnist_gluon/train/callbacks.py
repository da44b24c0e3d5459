"""Callbacks: small objects ``fit`` calls around epochs, Keras-style.

A callback overrides any of the hooks of :class:`Callback`. ``fit`` sets, before
``on_train_begin``:

* ``self.net`` - the network being trained (a Gluon Block, like Keras's ``self.model``);
* ``self.trainer`` - the ``gluon.Trainer`` (``trainer.learning_rate``, ``set_learning_rate``);
* ``self.history`` - the :class:`~fmnist_gluon.history.History` being filled;
* ``self.params`` - a dict of fit's settings: ``epochs``, ``batches_per_epoch``, ``log_every``,
  ``keys`` (the row keys this run records, e.g. ``["train_loss", "train_accuracy", "val_loss",
  ...]``), ``has_val``, ``checkpoint_dir``.

``on_batch_end`` runs only at the loop's host-sync points (every ``log_every`` batches and at
the end of an epoch), so a callback never adds a device sync per batch. ``state()`` is written
into every checkpoint and handed back to ``load_state()`` on resume, so a stateful callback
continues exactly where the interrupted run was.

The built-in behaviour of ``fit`` is made of callbacks too: :class:`BestEpoch` (the best
epoch, ``best.params``, ``restore_best``), :class:`EarlyStopping`, :class:`ProgressBar` and
:class:`TerminateOnNaN`; :class:`CSVLogger` and :class:`ReduceLROnPlateau` are extras.
"""
import math
import numbers
import sys
import warnings

import numpy as np

from ..history import is_finite_number, mode_for
from ..validation import check_choice, check_non_negative_int, check_number, check_positive_int
from .checkpoint import Checkpoint
from .params import restore_params, snapshot_params, weights_norm

__all__ = ["Callback", "BestEpoch", "EarlyStopping", "ProgressBar", "TerminateOnNaN", "CSVLogger",
           "ReduceLROnPlateau", "TrainingDiverged", "resolve_monitor", "is_better"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite (raised by ``fit(..., on_nan="raise")``)."""

    def __init__(self, message, epoch=None, batch=None, history=None):
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history


class Callback:
    """Base class: every hook does nothing. Override the ones you need.

    ``on_epoch_end`` (and ``on_batch_end``) may ask ``fit`` to stop by returning a reason (a
    string, recorded as ``history.stopped_reason``) or True; anything else continues.
    Epoch numbers are 1-based, like the ``epoch`` column of the history.
    """
    net = trainer = history = None
    params = {}

    def set_params(self, params):
        """Receive fit's settings (before training starts: check them here, fail early)."""
        self.params = params

    def on_train_begin(self, logs):
        """Before the first epoch. ``logs``: ``start_epoch`` (0, or the epochs a resumed run
        has done), ``resumed_from`` (the checkpoint folder or None), ``stopped`` (the reason a
        resumed run had stopped, or None)."""

    def on_epoch_begin(self, epoch):
        """Before epoch ``epoch`` (1-based) trains."""

    def on_batch_end(self, batch, logs):
        """At a sync point after batch ``batch`` (1-based, within the epoch). ``logs``: ``loss``
        (running mean training loss of the epoch), the running training metrics by name, and
        ``batch_losses`` (numpy, the summed loss of each batch since the previous sync)."""

    def on_epoch_end(self, epoch, row):
        """After epoch ``epoch``: ``row`` is the history row just appended. Return a reason to
        stop."""

    def on_train_end(self, history):
        """After the last epoch (also after an early stop); not called when an error escapes."""

    def state(self):
        """What to save in the checkpoint (JSON-able) to resume exactly."""
        return {}

    def load_state(self, state):
        """Take back what ``state()`` returned, when ``fit`` resumes from a checkpoint."""


def resolve_monitor(monitor, params):
    """The row key for ``monitor`` among ``params["keys"]``; "accuracy"/"loss" mean the training
    values."""
    keys = params["keys"]
    key = monitor if monitor in keys else "train_" + monitor
    if key not in keys:
        hint = (" (there is no validation data: pass val=... or monitor a training key)"
                if monitor.startswith("val_") and not params["has_val"] else "")
        raise ValueError("monitor=%r is not recorded%s; available: %s"
                         % (monitor, hint, ", ".join(keys)))
    return key


def is_better(value, best, mode, min_delta=0.0):
    """True when ``value`` improves on ``best`` (None: nothing yet) by more than ``min_delta``."""
    if not is_finite_number(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class BestEpoch(Callback):
    """Tracks the best epoch of ``monitor``: the checkpoint links ``best.params`` to it, and with
    ``restore_best`` the network gets its weights back at the end (Keras's
    ``EarlyStopping(restore_best_weights=True)`` / ``ModelCheckpoint(save_best_only=True)``).
    The history's ``monitor`` is this key."""

    def __init__(self, monitor="val_accuracy", restore_best=False):
        self.monitor, self.restore_best = monitor, bool(restore_best)
        self.key = self.mode = self.best = self.snapshot = None
        self.improved = False

    def set_params(self, params):
        super().set_params(params)
        self.key = resolve_monitor(self.monitor, params)
        self.mode = mode_for(self.key)

    def on_epoch_end(self, epoch, row):
        self.improved = is_better(row.get(self.key), self.best, self.mode)
        if self.improved:
            self.best = row[self.key]
            if self.restore_best:
                self.snapshot = snapshot_params(self.net)

    def on_train_end(self, history):
        if self.restore_best and self.snapshot is not None:
            restore_params(self.net, self.snapshot)
            history.meta["restored_epoch"] = history.best_epoch

    def state(self):
        return {"best": self.best}

    def load_state(self, state):
        self.best = state.get("best", self.history.best_value)
        folder = self.params.get("checkpoint_dir")
        if self.restore_best and folder:
            self.snapshot = Checkpoint(folder).load_best()


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs (Keras's ``EarlyStopping``). ``mode``: "auto" (min for loss-like keys), "min", "max".
    """

    def __init__(self, monitor="val_accuracy", patience=5, min_delta=0.0, mode="auto"):
        self.patience = check_positive_int(patience, "early_stopping: patience")
        self.mode = check_choice(mode, "early_stopping: mode", ("auto", "min", "max"))
        self.min_delta = check_number(min_delta, "early_stopping: min_delta", 0.0)
        self.monitor = monitor
        self.key, self.best, self.wait = None, None, 0

    def set_params(self, params):
        super().set_params(params)
        self.key = resolve_monitor(self.monitor, params)
        if self.mode == "auto":
            self.mode = mode_for(self.key)

    def on_epoch_end(self, epoch, row):
        if is_better(row.get(self.key), self.best, self.mode, self.min_delta):
            self.best, self.wait = row[self.key], 0
            return None
        self.wait += 1
        if self.wait < self.patience:
            return None
        return ("early stopping: %s did not improve by more than %g for %d epochs"
                % (self.key, self.min_delta, self.wait))

    def state(self):
        return {"best": self.best, "wait": self.wait}

    def load_state(self, state):
        self.best, self.wait = state["best"], state["wait"]

    @classmethod
    def from_shorthand(cls, spec, monitor):
        """fit's ``early_stopping=``: None/False, a patience, or ``dict(patience=, min_delta=,
        monitor=, mode=)``."""
        if spec is None or spec is False:
            return None
        if isinstance(spec, bool) or not isinstance(spec, (numbers.Integral, dict)):
            raise TypeError("early_stopping: expected None, a patience (int) or a dict(patience=, "
                            "min_delta=, monitor=), got %r" % (spec,))
        cfg = {"patience": spec} if isinstance(spec, numbers.Integral) else dict(spec)
        unknown = set(cfg) - {"patience", "min_delta", "monitor", "mode"}
        if unknown:
            raise ValueError("early_stopping: unknown keys %s (expected patience, min_delta, "
                             "monitor, mode)" % sorted(unknown))
        return cls(**{"monitor": monitor, **cfg})


def short_values(values):
    """Display names and formatted values for a progress line."""
    out = {}
    for k, v in values.items():
        if not isinstance(v, numbers.Real):
            continue
        k = k.replace("train_", "").replace("accuracy", "acc")
        if k == "seconds":
            out["time"] = "%.1fs" % v
        elif k == "images_per_sec":
            out["img/s"] = "%.0f" % v
        elif k == "lr":
            out[k] = "%.3g" % v
        else:
            out[k] = "%.4f" % v
    return out


class ProgressBar(Callback):
    """A tqdm bar per epoch on a terminal, else one printed line per epoch.

    ``verbose``: 1/True a bar when standard error is a terminal and one line per epoch when it
    is not (a log file gets no carriage-return frames), 2 always one line per epoch. The bar
    advances at the loop's sync points (every ``log_every`` batches).
    """

    def __init__(self, verbose=1):
        if verbose is True:
            verbose = 1
        if isinstance(verbose, bool) or verbose not in (1, 2):
            raise ValueError("verbose: expected 0/False (quiet), 1/True (progress bar) or 2 "
                             "(one line per epoch), got %r" % (verbose,))
        self.verbose, self.bar, self.done = verbose, None, 0
        self._quiet_stop = False

    def use_bar(self):
        """True to draw a tqdm bar: verbose=1 and standard error is a terminal or a notebook's
        output (where ``tqdm.auto`` draws a widget)."""
        if self.verbose != 1:
            return False
        stream = sys.stderr
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty()) or type(stream).__module__.startswith("ipykernel")

    def on_train_begin(self, logs):
        self._quiet_stop = logs.get("stopped") is not None
        if logs.get("resumed_from"):
            stopped = logs.get("stopped")
            print("resumed from %s after epoch %d%s" % (
                logs["resumed_from"], logs["start_epoch"],
                " (the run had stopped: %s)" % stopped if stopped else ""), flush=True)

    def on_epoch_begin(self, epoch):
        self.done = 0
        if self.use_bar():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.params["batches_per_epoch"], unit="batch", leave=True,
                            desc="epoch %d/%d" % (epoch, self.params["epochs"]),
                            dynamic_ncols=True)

    def on_batch_end(self, batch, logs):
        if self.bar is not None:
            self.bar.update(batch - self.done)
            self.done = batch
            self.bar.set_postfix(short_values(logs), refresh=False)

    def on_epoch_end(self, epoch, row):
        values = {k: v for k, v in row.items() if k != "epoch"}
        if self.bar is not None:
            self.bar.set_postfix(short_values(values), refresh=True)
            self.close()
        else:
            print("epoch %d/%d  %s" % (epoch, self.params["epochs"], "  ".join(
                "%s %s" % kv for kv in short_values(values).items())), flush=True)

    def on_train_end(self, history):
        self.close()
        if history.stopped_reason and not self._quiet_stop and "diverged" not in history.meta:
            print(history.stopped_reason, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TerminateOnNaN(Callback):
    """Stop when the training loss or the weights become NaN/inf (Keras's ``TerminateOnNaN``).

    Unlike Keras, the network gets back the weights of the last finished epoch, the last
    checkpoint is left as it was, and ``history.stopped_reason`` says where it happened.
    ``on_nan``: "stop" warns; "raise" raises :class:`TrainingDiverged` at the end of ``fit``.
    """

    def __init__(self, on_nan="stop"):
        self.on_nan, self.last_good = check_choice(on_nan, "on_nan", ("stop", "raise")), None

    def on_epoch_begin(self, epoch):
        self.last_good = snapshot_params(self.net)
        self.epoch = epoch

    def on_batch_end(self, batch, logs):
        values = logs["batch_losses"]
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            return self._diverged(batch - len(values) + 1 + int(bad[0]), "loss")
        ctx0 = next(iter(self.net.collect_params().values())).list_ctx()[0]
        if not math.isfinite(float(weights_norm(self.net, ctx0).asscalar())):
            return self._diverged(batch, "weights")  # e.g. NaN pixels: ReLU hides them
        return None

    def _diverged(self, batch, what):
        history, folder = self.history, self.params.get("checkpoint_dir")
        restore_params(self.net, self.last_good)
        kept = ("; the checkpoint of epoch %d in %s is kept" % (len(history), folder)
                if folder and len(history) else "")
        reason = (
            "non-finite training %s at epoch %d, batch %d: training stopped and the weights of "
            "the last finished epoch (%d) were put back%s. Lower the learning rate, check the "
            "inputs for NaN, or clip gradients (optimizer_params={'clip_gradient': 5})"
            % (what, self.epoch, batch, len(history), kept))
        history.meta["diverged"] = {"epoch": self.epoch, "batch": batch}
        if self.on_nan == "stop":
            warnings.warn(reason, RuntimeWarning, stacklevel=2)
        return reason

    def on_train_end(self, history):
        if self.on_nan == "raise" and history.meta.get("diverged"):
            d = history.meta["diverged"]
            raise TrainingDiverged(history.stopped_reason, d["epoch"], d["batch"], history)


class CSVLogger(Callback):
    """Write the history to ``path`` (CSV, one row per epoch) after every epoch, atomically.

    The whole file is rewritten from the history, so after a resume it holds exactly the rows
    of the run (no duplicate of an epoch the interrupted run had logged)."""

    def __init__(self, path):
        self.path = str(path)

    def on_epoch_end(self, epoch, row):
        self.history.save(self.path)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs; then wait ``cooldown`` epochs; never below ``min_lr``
    (Keras's ``ReduceLROnPlateau``). Needs ``lr_scheduler=None``: a scheduler owns the rate."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4, cooldown=0,
                 min_lr=0.0, mode="auto"):
        self.factor = check_number(factor, "ReduceLROnPlateau: factor", 0.0, 1.0, True, True)
        self.patience = check_positive_int(patience, "ReduceLROnPlateau: patience")
        self.cooldown = check_non_negative_int(cooldown, "ReduceLROnPlateau: cooldown")
        self.min_delta = check_number(min_delta, "ReduceLROnPlateau: min_delta", 0.0)
        self.min_lr = check_number(min_lr, "ReduceLROnPlateau: min_lr", 0.0)
        self.mode = check_choice(mode, "ReduceLROnPlateau: mode", ("auto", "min", "max"))
        self.monitor = monitor
        self.key, self.best, self.wait, self.cooling, self.lr = None, None, 0, 0, None

    def set_params(self, params):
        super().set_params(params)
        self.key = resolve_monitor(self.monitor, params)
        if self.mode == "auto":
            self.mode = mode_for(self.key)

    def on_train_begin(self, logs):
        if self.trainer.optimizer.lr_scheduler is not None:
            raise ValueError("ReduceLROnPlateau sets the learning rate itself: pass "
                             "lr_scheduler=None to fit")
        if self.lr is not None:  # resumed: the rate the interrupted run had reached
            self.trainer.set_learning_rate(self.lr)

    def on_epoch_end(self, epoch, row):
        if self.cooling:
            self.cooling -= 1
        if is_better(row.get(self.key), self.best, self.mode, self.min_delta):
            self.best, self.wait = row[self.key], 0
        elif not self.cooling:
            self.wait += 1
            if self.wait >= self.patience:
                lr = max(float(self.trainer.learning_rate) * self.factor, self.min_lr)
                self.trainer.set_learning_rate(lr)
                self.wait, self.cooling = 0, self.cooldown
        self.lr = float(self.trainer.learning_rate)

    def state(self):
        return {"best": self.best, "wait": self.wait, "cooling": self.cooling, "lr": self.lr}

    def load_state(self, state):
        self.best, self.wait, self.cooling, self.lr = (state["best"], state["wait"],
                                                       state["cooling"], state["lr"])


def default_callbacks(callbacks, monitor, early_stopping, restore_best, verbose, on_nan,
                      has_val):
    """fit's callbacks: the user's list plus the built-ins its keywords ask for.

    A built-in the user passes (e.g. their own ``EarlyStopping``) replaces the one a keyword
    would make; giving both is an error. Order: BestEpoch, EarlyStopping, the user's, then
    ProgressBar and TerminateOnNaN (so at the end the best weights are back before a raise).
    """
    user = list(callbacks or [])
    for cb in user:
        if not isinstance(cb, Callback):
            raise TypeError("callbacks: expected fmnist_gluon.train.Callback instances, got %r"
                            % (cb,))

    def given(kind, keyword, value):
        found = [cb for cb in user if isinstance(cb, kind)]
        if len(found) > 1:
            raise ValueError("callbacks: give at most one %s" % kind.__name__)
        if found and value:
            raise ValueError("callbacks holds a %s and %s=%r asks for another: pass one of "
                             "them" % (kind.__name__, keyword, value))
        return found[0] if found else None

    es = given(EarlyStopping, "early_stopping", early_stopping)
    if es is None:
        es = EarlyStopping.from_shorthand(early_stopping, monitor)
    best = given(BestEpoch, "restore_best", restore_best)
    if best is None:
        if not has_val and monitor.startswith("val_") and not (restore_best or es):
            monitor = monitor[4:]  # no validation data: the best epoch is the training one's
        best = BestEpoch(monitor, restore_best)
    progress = given(ProgressBar, "verbose", False)
    if progress is None and verbose not in (0, False):
        progress = ProgressBar(verbose)
    nan = given(TerminateOnNaN, "on_nan", False) or TerminateOnNaN(on_nan)
    builtin = (BestEpoch, EarlyStopping, ProgressBar, TerminateOnNaN)
    rest = [cb for cb in user if not isinstance(cb, builtin)]
    return [cb for cb in [best, es, *rest, progress, nan] if cb is not None]
