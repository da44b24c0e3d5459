"""What happens around each epoch: best-epoch tracking, early stopping, progress, divergence."""
import numbers
import os
import warnings

import mxnet as mx
from mxnet import nd

from ..history import is_finite_number, mode_for
from .params import restore_params, snapshot_params


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite (raised by ``fit(..., on_nan="raise")``)."""

    def __init__(self, message, epoch=None, batch=None, history=None):
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history

def resolve_monitor(monitor, have_val, metric_names):
    """The row key for ``monitor``; 'accuracy'/'loss' mean the training values."""
    keys = ["train_loss"] + ["train_" + n for n in metric_names]
    if have_val:
        keys += ["val_loss"] + ["val_" + n for n in metric_names]
    key = monitor if monitor in keys else "train_" + monitor
    if key not in keys:
        hint = (" (there is no validation data: pass val=... or monitor a training key)"
                if monitor.startswith("val_") and not have_val else "")
        raise ValueError("monitor=%r is not recorded%s; available: %s"
                         % (monitor, hint, ", ".join(keys)))
    return key


def early_stopping_config(spec, monitor, keys):
    """Early-stopping settings from a patience or a dict, with the row key resolved."""
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
    cfg = {"patience": 5, "min_delta": 0.0, "monitor": monitor, "mode": "auto", **cfg}
    if not isinstance(cfg["patience"], numbers.Integral) or cfg["patience"] < 1:
        raise ValueError("early_stopping: patience must be a positive integer, got %r"
                         % (cfg["patience"],))
    if cfg["mode"] not in ("auto", "min", "max"):
        raise ValueError("early_stopping: mode must be 'auto', 'min' or 'max', got %r"
                         % (cfg["mode"],))
    cfg["key"] = keys(cfg["monitor"])
    if cfg["mode"] == "auto":
        cfg["mode"] = mode_for(cfg["key"])
    return cfg


def is_better(value, best, mode, min_delta=0.0):
    if not is_finite_number(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class Tracker:
    """The best epoch (for best.params and restore_best) and early stopping, as Keras does."""

    def __init__(self, key, stopper, keep_best):
        self.key, self.mode, self.stopper, self.keep_best = key, mode_for(key), stopper, keep_best
        self.best, self.es_best, self.wait, self.snapshot = None, None, 0, None

    def update(self, row, net):
        """(improved, stop reason or None) after one epoch's row."""
        improved = is_better(row.get(self.key), self.best, self.mode)
        if improved:
            self.best = row[self.key]
            if self.keep_best:
                self.snapshot = snapshot_params(net)
        es = self.stopper
        if es is None:
            return improved, None
        if is_better(row.get(es["key"]), self.es_best, es["mode"], es["min_delta"]):
            self.es_best, self.wait = row[es["key"]], 0
            return improved, None
        self.wait += 1
        if self.wait < es["patience"]:
            return improved, None
        return improved, ("early stopping: %s did not improve by more than %g for %d epochs"
                          % (es["key"], es["min_delta"], self.wait))

    def state(self):
        return {"early_stopping_best": self.es_best, "early_stopping_wait": self.wait}

    def load(self, state, history, folder):
        self.best = history.best_value
        self.es_best, self.wait = state["early_stopping_best"], state["early_stopping_wait"]
        best_path = os.path.join(folder, "best.params")
        if self.keep_best and os.path.exists(best_path):
            self.snapshot = {k: v.as_in_context(mx.cpu()) for k, v in nd.load(best_path).items()}

class Progress:
    """A tqdm bar per epoch (verbose=1), one printed line per epoch (verbose=2), or nothing."""

    def __init__(self, verbose, epochs):
        if verbose is True:
            verbose = 1
        if verbose not in (0, 1, 2, False):
            raise ValueError("verbose: expected 0/False (quiet), 1/True (progress bar) or 2 "
                             "(one line per epoch), got %r" % (verbose,))
        self.level, self.epochs, self.bar = int(verbose), epochs, None

    def say(self, text):
        if self.level:
            print(text, flush=True)

    def start(self, epoch, total):
        if self.level == 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="epoch %d/%d" % (epoch, self.epochs),
                            unit="batch", leave=True, dynamic_ncols=True)

    def advance(self):
        """One batch done (no sync: tqdm redraws at most every 0.1 s)."""
        if self.bar is not None:
            self.bar.update(1)

    def show(self, values):
        """Running values, at the loop's sync points."""
        if self.bar is not None:
            self.bar.set_postfix(short_values(values), refresh=False)

    def end(self, row):
        values = {k: v for k, v in row.items() if k not in ("epoch",)}
        if self.bar is not None:
            self.bar.set_postfix(short_values(values), refresh=True)
            self.bar.close()
            self.bar = None
        elif self.level == 2:
            self.say("epoch %d/%d  %s" % (row["epoch"], self.epochs, "  ".join(
                "%s %s" % kv for kv in short_values(values).items())))

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def short_values(values):
    out = {}
    for k, v in values.items():
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

def record_divergence(net, history, last_good, epoch, problem, checkpoint_dir, on_nan):
    """Record a non-finite loss: put back the last good weights and say what happened."""
    batch, what = problem
    restore_params(net, last_good)
    kept = ("; the checkpoint of epoch %d in %s is kept" % (len(history), checkpoint_dir)
            if checkpoint_dir and len(history) else "")
    history.stopped_reason = (
        "non-finite training %s at epoch %d, batch %d: training stopped and the weights of "
        "the last finished epoch (%d) were put back%s. Lower the learning rate, check the inputs "
        "for NaN, or clip gradients (optimizer_params={'clip_gradient': 5})"
        % (what, epoch, batch, len(history), kept))
    history.meta["diverged"] = {"epoch": epoch, "batch": batch}
    if on_nan == "stop":
        warnings.warn(history.stopped_reason, RuntimeWarning, stacklevel=3)
