"""Metrics counted on the device (one host sync per ``get``), metric construction by name, and
the label-smoothed loss."""
import copy

import mxnet as mx
import numpy as np
from mxnet import gluon, nd

__all__ = ["DeviceAccuracy", "MacroF1", "make_metrics", "metric_values", "smoothed_cross_entropy"]


class _DeviceMetric(mx.metric.EvalMetric):
    """An EvalMetric whose counts stay NDArrays on each device until ``get()`` (one sync)."""

    def reset(self):
        super().reset()
        self._sums = {}

    def _add(self, key, value):
        self._sums[key] = value if key not in self._sums else self._sums[key] + value


class DeviceAccuracy(_DeviceMetric):
    """Top-1 accuracy (MXNet's ``Accuracy``) counted on the device, without a sync per batch."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name, **kwargs)

    def update(self, labels, preds):
        labels, preds = _as_lists(labels, preds)
        for label, pred in zip(labels, preds):
            hit = (pred.argmax(axis=1) == label.reshape((-1,)).astype(pred.dtype)).sum()
            self._add(pred.context, hit)
            self.num_inst += pred.shape[0]

    def get(self):
        if not self.num_inst:
            return self.name, float("nan")
        return self.name, sum(float(v.asscalar()) for v in self._sums.values()) / self.num_inst


class MacroF1(_DeviceMetric):
    """Multi-class F1, macro-averaged (MXNet's ``F1`` only handles two classes).

    Accumulates a confusion matrix on the device; per-class F1 = 2PR/(P+R) (0 when undefined),
    averaged over the classes that occur in the labels or the predictions, as
    scikit-learn's ``f1_score(average="macro")``.
    """

    def __init__(self, name="macro_f1", **kwargs):
        super().__init__(name, **kwargs)

    def update(self, labels, preds):
        labels, preds = _as_lists(labels, preds)
        for label, pred in zip(labels, preds):
            classes = pred.shape[1]
            truth = nd.one_hot(label.reshape((-1,)), classes)
            guess = nd.one_hot(pred.argmax(axis=1), classes)
            self._add((pred.context, classes), nd.dot(truth, guess, transpose_a=True))
            self.num_inst += pred.shape[0]

    def confusion_matrix(self):
        """The accumulated confusion matrix (rows: true class, columns: predicted), numpy."""
        if not self._sums:
            return None
        return sum(v.asnumpy() for v in self._sums.values())

    def get(self):
        cm = self.confusion_matrix()
        if cm is None:
            return self.name, float("nan")
        tp = np.diag(cm)
        true, pred = cm.sum(axis=1), cm.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(true + pred > 0, 2 * tp / (true + pred), 0.0)
        present = (true + pred) > 0
        return self.name, float(f1[present].mean()) if present.any() else float("nan")


def _as_lists(labels, preds):
    if isinstance(labels, nd.NDArray):
        labels = [labels]
    if isinstance(preds, nd.NDArray):
        preds = [preds]
    return labels, preds


_F1_NAMES = ("f1", "macro_f1", "f1_macro")


def _make_metric(spec):
    """One EvalMetric from a name, a dict ``{"name": ..., **kwargs}`` or an instance."""
    if isinstance(spec, mx.metric.EvalMetric):
        return copy.deepcopy(spec)
    kwargs = {}
    if isinstance(spec, dict):
        if "name" not in spec:
            raise ValueError("a metric dict needs a 'name' key, e.g. {'name': 'top_k_accuracy', "
                             "'top_k': 5}; got %r" % (spec,))
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        spec = spec["name"]
    if callable(spec):
        return mx.metric.create(spec, **kwargs)
    if not isinstance(spec, str):
        raise TypeError("metrics: expected a name, a dict, an mx.metric.EvalMetric or a list of "
                        "them, got %s" % type(spec).__name__)
    name = spec.lower()
    if name in ("acc", "accuracy") and not kwargs:
        return DeviceAccuracy()
    if name in _F1_NAMES and not kwargs:
        return MacroF1()
    if name.startswith("top_k_accuracy"):
        suffix = name[len("top_k_accuracy"):].lstrip("_")
        kwargs.setdefault("top_k", int(suffix) if suffix.isdigit() else 5)
        name = "top_k_accuracy"
    try:
        return mx.metric.create(name, **kwargs)
    except (ValueError, TypeError, KeyError, AssertionError) as err:  # the registry asserts
        raise ValueError("unknown metric %r (%s). Use an MXNet metric name such as 'accuracy', "
                         "'top_k_accuracy_5', 'ce', 'f1' (macro, multi-class), or an "
                         "mx.metric.EvalMetric instance" % (spec, err)) from None


def make_metrics(metrics):
    """A list of fresh EvalMetrics from a name, dict, instance, or a list/tuple of those."""
    if metrics is None:
        return []
    specs = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
    made = []
    for spec in specs:
        made.append(_make_metric(spec))
    names = [m.get()[0] for m in made]
    if len(set(names)) != len(names):
        raise ValueError("metrics: two metrics share the name %r; give each a different one"
                         % next(n for n in names if names.count(n) > 1))
    return made


def metric_values(metrics, prefix):
    out = {}
    for metric in metrics:
        names, values = metric.get()
        if isinstance(names, str):
            names, values = [names], [values]
        for n, v in zip(names, values):
            out[prefix + n.replace("-", "_")] = float(v)
    return out
def smoothed_cross_entropy(epsilon):
    """Softmax cross-entropy against smoothed one-hot labels (MXNet's SoftmaxCrossEntropyLoss
    with ``sparse_label=False``): the true class weighs ``1 - epsilon + epsilon / K``, every
    other class ``epsilon / K``. Called like the sparse loss, ``loss(outputs, labels)``."""
    dense = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)

    def loss(outputs, labels):
        k = outputs.shape[-1]
        return dense(outputs, nd.one_hot(labels, k, on_value=1 - epsilon + epsilon / k,
                                          off_value=epsilon / k))
    return loss

