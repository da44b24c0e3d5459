"""``History``: one row per finished epoch, with Keras-style access, the best epoch, JSON/CSV
files and plots. Plain Python (no MXNet import), so plotting and reports can read a history
without loading the training code."""
import copy
import csv
import json
import math
import numbers
import os

import numpy as np

from .utils import atomic_path, atomic_write_text

__all__ = ["History", "mode_for", "is_finite_number", "json_default"]

# Substrings of a monitored key that mean "lower is better"; everything else is maximised.
MIN_KEYS = ("loss", "entropy", "nll", "perplexity", "error", "mse", "mae")


def mode_for(key):
    """"min" for loss-like keys, "max" for accuracy-like ones."""
    return "min" if any(s in key for s in MIN_KEYS) else "max"


def is_finite_number(v):
    """True for a finite real number (bools excluded)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


class History:
    """One row per finished epoch, Keras-style access, best epoch, JSON/CSV files, plots.

    Rows are dicts with ``epoch`` (1-based), ``train_loss``, ``train_<metric>``, ``val_loss``,
    ``val_<metric>`` (when there is validation data), ``lr`` (the learning rate of the epoch's
    last update), ``seconds`` (training plus validation time) and ``images_per_sec`` (training
    images per second of the training phase).  ``history.history`` gives the same as a dict of
    lists like Keras's ``History.history``.
    """

    def __init__(self, epochs=None, monitor="val_accuracy", mode="auto", stopped_reason=None,
                 meta=None):
        self.epochs = [dict(r) for r in (epochs or [])]
        self.monitor = monitor
        self.mode = mode
        self.stopped_reason = stopped_reason
        self.meta = dict(meta or {})

    # -- access ---------------------------------------------------------------------------
    def __len__(self):
        return len(self.epochs)

    def append(self, row):
        self.epochs.append(dict(row))

    @property
    def columns(self):
        """Column names in first-seen order."""
        keys = []
        for row in self.epochs:
            keys.extend(k for k in row if k not in keys)
        return keys

    @property
    def history(self):
        """Keras-style ``{key: [value per epoch]}`` (None where an epoch lacks the key)."""
        return {k: [row.get(k) for row in self.epochs] for k in self.columns}

    def __getitem__(self, key):
        return self.history[key]

    @property
    def monitor_key(self):
        """The monitored column: ``monitor``, else its training twin ("accuracy" ->
        "train_accuracy", "val_accuracy" -> "train_accuracy" when there is no validation)."""
        keys = self.columns
        for key in (self.monitor, "train_" + self.monitor):
            if key in keys:
                return key
        if self.monitor.startswith("val_") and "train_" + self.monitor[4:] in keys:
            return "train_" + self.monitor[4:]
        return None

    @property
    def best(self):
        """The best row for the monitored key (ties: the earliest), or None."""
        key = self.monitor_key
        if key is None:
            return None
        rows = [r for r in self.epochs if is_finite_number(r.get(key))]
        if not rows:
            return None
        mode = mode_for(key) if self.mode == "auto" else self.mode
        pick = min if mode == "min" else max
        return pick(rows, key=lambda r: r[key])

    @property
    def best_epoch(self):
        """The 1-based epoch of the best monitored value, or None."""
        best = self.best
        return None if best is None else best["epoch"]

    @property
    def best_value(self):
        """The best monitored value, or None."""
        best = self.best
        return None if best is None else best[self.monitor_key]

    def __repr__(self):
        best = ""
        if self.best is not None:
            best = ", best %s=%.4f at epoch %d" % (self.monitor_key, self.best_value,
                                                  self.best_epoch)
        stop = ", stopped: %s" % self.stopped_reason if self.stopped_reason else ""
        return "History(%d epochs%s%s)" % (len(self), best, stop)

    # -- files ----------------------------------------------------------------------------
    def to_dict(self):
        """Plain JSON-able data; ``History.from_dict`` reads it back."""
        return {"epochs": [dict(r) for r in self.epochs], "monitor": self.monitor,
                "mode": self.mode, "stopped_reason": self.stopped_reason,
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data):
        """A History from ``to_dict()`` output or a Keras-style dict of lists."""
        if isinstance(data, History):
            return copy.deepcopy(data)
        if not isinstance(data, dict):
            raise TypeError("expected a History or a dict, got %s" % type(data).__name__)
        if "epochs" in data and isinstance(data["epochs"], list) and (
                not data["epochs"] or isinstance(data["epochs"][0], dict)):
            return cls(data["epochs"], data.get("monitor", "val_accuracy"),
                       data.get("mode", "auto"), data.get("stopped_reason"), data.get("meta"))
        lengths = {len(v) for v in data.values() if isinstance(v, (list, tuple))}
        if len(lengths) != 1:
            raise ValueError("expected {'epochs': [row, ...]} or a dict of equally long lists "
                             "(Keras's history.history), got keys %s" % sorted(data))
        n = lengths.pop()
        rows = [{k: v[i] for k, v in data.items()} for i in range(n)]
        for i, row in enumerate(rows):
            row.setdefault("epoch", i + 1)
        return cls(rows)

    def save(self, path):
        """Write the History to ``path`` (.json keeps everything, .csv the rows), atomically."""
        ext = os.path.splitext(str(path))[1].lower()
        if ext == ".json":
            atomic_write_text(path, json.dumps(self.to_dict(), indent=1, default=json_default))
        elif ext == ".csv":
            keys = self.columns
            with atomic_path(path) as tmp:
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    writer = csv.writer(f)
                    writer.writerow(keys)
                    for row in self.epochs:
                        writer.writerow(["" if row.get(k) is None else repr(row[k]) for k in keys])
        else:
            raise ValueError("History.save: expected a path ending in .json or .csv, got %r" % path)
        return path

    @classmethod
    def load(cls, path, monitor=None):
        """Read a History written by ``save`` (.json or .csv; CSV keeps only the rows)."""
        ext = os.path.splitext(str(path))[1].lower()
        if ext == ".json":
            with open(path, encoding="utf-8") as f:
                history = cls.from_dict(json.load(f))
        elif ext == ".csv":
            with open(path, newline="", encoding="utf-8") as f:
                rows = [{k: _parse_cell(k, v) for k, v in row.items() if v != ""}
                        for row in csv.DictReader(f)]
            history = cls(rows)
        else:
            raise ValueError("History.load: expected a path ending in .json or .csv, got %r" % path)
        if monitor is not None:
            history.monitor = monitor
        return history

    def plot(self, path=None, **kwargs):
        """Accuracy and loss curves (``plot.plot_history``); returns the matplotlib Figure."""
        from .plot import plot_history

        return plot_history(self, path=path, **kwargs)


def _parse_cell(key, text):
    if key == "epoch":
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def json_default(obj):
    """``json.dumps(default=...)`` for numpy scalars."""
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError("cannot write %s to JSON" % type(obj).__name__)
