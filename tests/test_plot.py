"""Each plot returns a matplotlib Figure, draws what it says, and writes a non-empty file."""
import os

import numpy as np
import pytest
from matplotlib.figure import Figure

from fmnist_gluon import plot
from fmnist_gluon.train import History

CLASSES = ["c%d" % i for i in range(10)]


def make_history(n=5, shift=0.0):
    rows = []
    for e in range(1, n + 1):
        rows.append({"epoch": e, "train_loss": 2.0 / e, "train_accuracy": 0.5 + 0.05 * e,
                     "val_loss": 2.1 / e + 0.05 * (e == n), "val_accuracy": 0.5 + 0.04 * e + shift
                     - 0.1 * (e == n), "lr": 0.001, "seconds": 1.0, "images_per_sec": 100.0})
    return History(rows)


def labels(seed=0, n=200):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 10, n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, 10, n))
    return y_true, y_pred


def check_written(fig, path):
    assert isinstance(fig, Figure)
    assert os.path.getsize(path) > 1000
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp")]


def test_plot_history_marks_best_epoch(tmp_path):
    h = make_history()
    path = str(tmp_path / "curves.png")
    fig = plot.plot_history(h, path=path)
    check_written(fig, path)
    acc_ax, loss_ax = fig.axes
    best = h.best_epoch
    assert best == 4  # the last epoch drops
    vlines = [l for l in acc_ax.get_lines() if list(l.get_xdata()) == [best, best]]
    assert vlines, "the best epoch is marked"
    val = [l for l in acc_ax.get_lines() if l.get_label() == "validation"][0]
    np.testing.assert_allclose(val.get_ydata(), 100 * np.array(h.history["val_accuracy"]))
    assert "epoch 4" in fig._suptitle.get_text()
    # a dict (to_dict or Keras-style) works too, and History.plot is the same function
    assert isinstance(plot.plot_history(h.to_dict()), Figure)
    assert isinstance(h.plot(), Figure)


def test_plot_history_svg_and_bad_extension(tmp_path):
    h = make_history()
    path = str(tmp_path / "curves.svg")
    check_written(plot.plot_history(h, path=path), path)
    assert open(path).read(200).lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match=".png"):
        plot.plot_history(h, path=str(tmp_path / "curves.jpeg2"))
    with pytest.raises(ValueError, match="no epochs"):
        plot.plot_history(History())


def test_plot_ladder_overlays_runs_and_references(tmp_path):
    runs = {"baseline": make_history(), "bn": make_history(shift=0.02).to_dict()}
    path = str(tmp_path / "ladder.png")
    fig = plot.plot_ladder(runs, path=path, references={"baseline": 92.42})
    check_written(fig, path)
    labels_ = [l.get_label() for l in fig.axes[0].get_lines()]
    assert "baseline" in labels_ and "bn" in labels_
    assert any("reference" in l for l in labels_)
    with pytest.raises(ValueError, match="has no 'val_top'"):
        plot.plot_ladder(runs, metric="val_top")


def test_confusion_matrix_counts_and_normalisation(tmp_path):
    y_true, y_pred = labels()
    cm = plot.confusion_matrix(y_true, y_pred, 10)
    assert cm.sum() == 200 and cm[3, 3] == np.sum((y_true == 3) & (y_pred == 3))
    path = str(tmp_path / "cm.png")
    fig = plot.plot_confusion_matrix(y_true, y_pred, CLASSES, path=path)
    check_written(fig, path)
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown).sum(axis=1), 1.0)
    fig = plot.plot_confusion_matrix(y_true, y_pred, CLASSES, normalize=None)
    assert np.asarray(fig.axes[0].images[0].get_array()).sum() == 200
    with pytest.raises(ValueError, match="normalize"):
        plot.plot_confusion_matrix(y_true, y_pred, CLASSES, normalize="rows")
    with pytest.raises(ValueError, match="only 3 names"):
        plot.plot_confusion_matrix(y_true, y_pred, CLASSES[:3])


def test_per_class_accuracy_bars(tmp_path):
    y_true, y_pred = labels()
    path = str(tmp_path / "per_class.png")
    fig = plot.plot_per_class_accuracy(y_true, y_pred, CLASSES, path=path)
    check_written(fig, path)
    heights = [p.get_width() for p in fig.axes[0].patches]
    want = [100 * np.mean(y_pred[y_true == c] == c) for c in range(10)]
    np.testing.assert_allclose(heights, want)


def test_misclassified_grid(tmp_path):
    y_true, y_pred = labels()
    images = np.random.default_rng(0).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    path = str(tmp_path / "wrong.png")
    fig = plot.plot_misclassified(images, y_true, y_pred, CLASSES, path=path, n=7)
    check_written(fig, path)
    titled = [ax for ax in fig.axes if ax.get_title()]
    first = np.flatnonzero(y_true != y_pred)[0]
    assert len(titled) == 7
    assert titled[0].get_title() == "true: %s\npred: %s" % (CLASSES[y_true[first]],
                                                           CLASSES[y_pred[first]])
    # N×C×H×W input and no mistakes at all both work
    fig = plot.plot_misclassified(images[:, None], y_true, y_true, CLASSES)
    assert "0 of 0" in fig._suptitle.get_text()


def test_best_bars_against_references(tmp_path):
    path = str(tmp_path / "bars.png")
    fig = plot.plot_best_bars({"baseline": 91.9, "bn": 92.8}, {"baseline": 92.42, "bn": 93.31,
                                                               "dropout": 94.39}, path=path)
    check_written(fig, path)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "91.90" in texts and "94.39" in texts
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["baseline", "bn", "dropout"]
