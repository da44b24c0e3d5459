"""Plots: learning curves, the ladder overlay, confusion matrix, per-class accuracy, image grids.

Every function builds a ``matplotlib.figure.Figure`` directly (no pyplot state, so it works
headless, in scripts and in notebooks, where a returned Figure displays itself), returns it,
and when ``path`` is given also writes it (.png, .svg or .pdf) atomically: a temporary file,
then a rename.  Accuracy-like values stored as fractions are drawn in percent, the unit the
seed post's figures use.
"""
import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .history import History
from .utils import atomic_path

__all__ = ["plot_history", "plot_ladder", "plot_confusion_matrix", "plot_per_class_accuracy",
           "plot_misclassified", "plot_best_bars", "save_figure"]

_FORMATS = (".png", ".svg", ".pdf")


def save_figure(fig, path, dpi=120):
    """Write ``fig`` to ``path`` (.png/.svg/.pdf) through a temporary file; returns ``path``."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _FORMATS:
        raise ValueError("path: expected a file name ending in %s, got %r"
                         % (", ".join(_FORMATS), path))
    with atomic_path(str(path)) as tmp:
        fig.savefig(tmp, format=ext[1:], dpi=dpi, bbox_inches="tight")
    return path


def _finish(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


def _history_rows(history):
    """Rows of a History, a ``History.to_dict()`` dict or a Keras-style dict of lists."""
    return History.from_dict(history)


def _is_accuracy(key):
    return "acc" in key or "f1" in key


def _floats(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _scale(key, values, peers=None):
    """Percent for accuracy-like keys stored as fractions, unchanged otherwise.

    ``peers``: all series drawn on the same axis, so they get the same unit.
    """
    vals = _floats(values)
    every = np.concatenate([_floats(p) for p in (peers or [values])])
    if _is_accuracy(key) and np.nanmax(np.abs(every), initial=0) <= 1.0:
        return vals * 100.0, " (%)"
    return vals, ""


def plot_history(history, path=None, metric="accuracy", title=None):
    """Training and validation ``metric`` (left) and loss (right) against the epoch.

    The best epoch of the history's monitored key is marked with a dashed line and a dot.
    """
    h = _history_rows(history)
    if not len(h):
        raise ValueError("plot_history: the history has no epochs to plot")
    data = h.history
    epochs = data.get("epoch") or list(range(1, len(h) + 1))
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    best = h.best_epoch
    for ax, name in zip(axes, (metric, "loss")):
        unit = ""
        peers = [data[s + "_" + name] for s in ("train", "val") if s + "_" + name in data]
        for split, style in (("train", "-"), ("val", "-")):
            key = "%s_%s" % (split, name)
            if key not in data:
                continue
            values, unit = _scale(key, data[key], peers)
            ax.plot(epochs, values, style, marker="o" if len(epochs) < 30 else None,
                    markersize=3, label="validation" if split == "val" else "training")
            if best is not None and split == "val":
                i = list(epochs).index(best)
                ax.plot([best], [values[i]], "o", color="black", markersize=7, zorder=5)
        if best is not None:
            ax.axvline(best, color="grey", linestyle="--", linewidth=1,
                       label="best epoch (%d)" % best)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name.replace("_", " ") + unit)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize="small")
    if best is not None:
        key, value = h.monitor_key, h.best_value
        shown = "%.2f%%" % (100 * value) if _is_accuracy(key) and value <= 1 else "%.4f" % value
        fig.suptitle(title or "best %s %s at epoch %d" % (key.replace("_", " "), shown, best))
    elif title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, path)


def plot_ladder(histories, path=None, metric="val_accuracy", references=None, title=None):
    """One curve per run (``{name: History or dict}``) of ``metric`` against the epoch.

    ``references``: ``{name: value}`` drawn as dashed horizontal lines in the run's colour
    (accuracy references in percent, as the seed post gives them).
    """
    if not histories:
        raise ValueError("plot_ladder: expected {name: History}, got nothing to plot")
    references = references or {}
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    runs = {name: _history_rows(h).history for name, h in histories.items()}
    for name, data in runs.items():
        if metric not in data:
            raise ValueError("plot_ladder: run %r has no %r; it has %s"
                             % (name, metric, ", ".join(data)))
    peers = [data[metric] for data in runs.values()]
    unit = ""
    for name, data in runs.items():
        values, unit = _scale(metric, data[metric], peers)
        epochs = data.get("epoch") or list(range(1, len(values) + 1))
        line, = ax.plot(epochs, values, label=name)
        if name in references and references[name] is not None:
            ax.axhline(references[name], color=line.get_color(), linestyle="--", linewidth=1,
                       label="%s reference (%.2f)" % (name, references[name]))
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric.replace("_", " ") + unit)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title or metric.replace("_", " ") + " per epoch")
    fig.tight_layout()
    return _finish(fig, path)


def _labels(y_true, y_pred, class_names):
    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError("y_true and y_pred differ in length: %d and %d"
                         % (len(y_true), len(y_pred)))
    k = len(class_names)
    if len(y_true) and max(y_true.max(), y_pred.max()) >= k:
        raise ValueError("a label is %d but class_names has only %d names"
                         % (max(y_true.max(), y_pred.max()), k))
    return y_true, y_pred, k


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts: rows are true classes, columns predicted classes."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def plot_confusion_matrix(y_true, y_pred, class_names, path=None, normalize="true", title=None):
    """Confusion matrix as a heat map with the value in each cell.

    ``normalize``: "true" (rows sum to 1: recall on the diagonal), "pred" (columns sum to 1),
    "all", or None (counts), as scikit-learn's ``confusion_matrix(normalize=...)``.
    """
    y_true, y_pred, k = _labels(y_true, y_pred, class_names)
    cm = confusion_matrix(y_true, y_pred, k).astype(float)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError("normalize: expected None, 'true', 'pred' or 'all', got %r" % (normalize,))
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            cm = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            cm = cm / cm.sum(axis=0, keepdims=True)
        elif normalize == "all":
            cm = cm / cm.sum()
    cm = np.nan_to_num(cm)
    fig = Figure(figsize=(1.0 + 0.75 * k, 0.8 + 0.7 * k))
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fmt = "%d" if normalize is None else "%.2f"
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, fmt % cm[i, j], ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticklabels(class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")
    ax.set_title(title or "confusion matrix (accuracy %.2f%%)" % (100 * accuracy))
    fig.tight_layout()
    return _finish(fig, path)


def plot_per_class_accuracy(y_true, y_pred, class_names, path=None, title=None):
    """Horizontal bars: the accuracy (recall) of each class, with the overall accuracy line."""
    y_true, y_pred, k = _labels(y_true, y_pred, class_names)
    counts = np.bincount(y_true, minlength=k)
    hits = np.bincount(y_true[y_true == y_pred], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = 100.0 * hits / counts
    fig = Figure(figsize=(7, 0.9 + 0.35 * k))
    ax = fig.subplots()
    ax.barh(range(k), np.nan_to_num(acc), color="tab:blue")
    for i, a in enumerate(acc):
        ax.text(min(np.nan_to_num(a), 100) + 0.5, i, "n/a" if np.isnan(a) else "%.1f" % a,
                va="center", fontsize=8)
    overall = 100.0 * float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")
    ax.axvline(overall, color="black", linestyle="--", linewidth=1,
               label="overall %.2f%%" % overall)
    ax.set_yticks(range(k))
    ax.set_yticklabels(class_names)
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xlabel("accuracy (%)")
    ax.legend(loc="lower left", fontsize="small")
    ax.set_title(title or "accuracy per class")
    fig.tight_layout()
    return _finish(fig, path)


def _as_hw(images):
    """N×H×W (grey) or N×H×W×3 for imshow, from N×H×W, N×H×W×C or N×C×H×W."""
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4):
        raise ValueError("images: expected N×H×W, N×H×W×C or N×C×H×W, got shape %s" % (x.shape,))
    return x


def plot_misclassified(images, y_true, y_pred, class_names, path=None, n=25, probabilities=None,
                       title=None):
    """A grid of the first ``n`` misclassified images, titled "true / predicted".

    With ``probabilities`` (N×C, e.g. from ``train.predict``) each title also shows the
    predicted class's probability.
    """
    y_true, y_pred, _ = _labels(y_true, y_pred, class_names)
    x = _as_hw(images)
    if len(x) != len(y_true):
        raise ValueError("images and labels differ in length: %d and %d" % (len(x), len(y_true)))
    wrong = np.flatnonzero(y_true != y_pred)[:max(int(n), 0)]
    cols = max(1, min(5, len(wrong)))
    rows = max(1, -(-len(wrong) // cols))
    fig = Figure(figsize=(2.1 * cols, 2.7 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, wrong):
        ax.imshow(x[i], cmap="gray" if x[i].ndim == 2 else None)
        label = "true: %s\npred: %s" % (class_names[y_true[i]], class_names[y_pred[i]])
        if probabilities is not None:
            label += " (%.0f%%)" % (100 * float(np.asarray(probabilities)[i, y_pred[i]]))
        ax.set_title(label, fontsize=8)
    if not len(wrong):
        axes[0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    fig.suptitle(title or "%d of %d misclassified images"
                 % (len(wrong), int(np.sum(y_true != y_pred))))
    fig.tight_layout()
    return _finish(fig, path)


def plot_best_bars(results, references=None, path=None, ylabel="best validation accuracy (%)",
                   title=None, labels=("this library", "reference")):
    """Bars of ``results`` ({name: value}) beside ``references`` ({name: value}, e.g. the seed
    post's figures), each labelled with its value; the y axis is zoomed to the values.
    ``labels`` names the two series in the legend."""
    if not results:
        raise ValueError("plot_best_bars: expected {name: value}, got nothing to plot")
    references = {k: v for k, v in (references or {}).items() if v is not None}
    names = list(results) + [k for k in references if k not in results]
    ours = np.array([results.get(k, np.nan) for k in names], dtype=float)
    ref = np.array([references.get(k, np.nan) for k in names], dtype=float)
    fig = Figure(figsize=(max(5, 1.3 * len(names) + 2), 4.5))
    ax = fig.subplots()
    pos = np.arange(len(names))
    width = 0.38 if references else 0.6
    bars = [(ax.bar(pos - (width / 2 if references else 0), np.nan_to_num(ours), width,
                    label=labels[0]), ours)]
    if references:
        bars.append((ax.bar(pos + width / 2, np.nan_to_num(ref), width, label=labels[1],
                            color="tab:orange"), ref))
    for container, values in bars:
        for rect, v in zip(container, values):
            if not np.isnan(v):
                ax.text(rect.get_x() + rect.get_width() / 2, v, "%.2f" % v, ha="center",
                        va="bottom", fontsize=8)
    shown = np.concatenate([ours[~np.isnan(ours)], ref[~np.isnan(ref)]])
    low, high = shown.min(), shown.max()
    pad = max((high - low) * 0.5, abs(high) * 0.01, 0.5)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xticks(pos)
    ax.set_xticklabels(names)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small", ncol=2)
    ax.set_title(title or ylabel)
    fig.tight_layout()
    return _finish(fig, path)
