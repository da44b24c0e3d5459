"""Training: ``fit``, ``evaluate``, ``predict`` and the ``History`` they keep.

``fit`` is a d2l-style loop (forward under ``autograd.record``, ``backward``, ``trainer.step``)
with the Keras/Lightning conveniences around it: metrics by name, learning-rate schedules,
early stopping, restoring the best weights, a checkpoint every epoch that a later call resumes
exactly, a stop on a non-finite loss, a tqdm bar per epoch, and several devices at once.

Choices worth knowing (docs/training.md has the long form):

* The loop syncs with the host only every ``log_every`` batches and at the end of an epoch:
  losses and the built-in accuracy / macro-F1 counts accumulate as NDArrays on the device.
* A non-finite training loss stops training like Keras's ``TerminateOnNaN``; unlike Keras the
  network gets back the weights of the last finished epoch, the last checkpoint is left as it
  was, and ``history.stopped_reason`` says where it happened (``on_nan="raise"`` raises
  ``TrainingDiverged`` instead).
* Exact resume: the shuffle order of epoch ``e`` depends only on ``(seed, e)`` (the iterator's
  ``.epoch``), MXNet's generator is re-seeded from ``(seed, e)`` at the start of every epoch
  (dropout), and the trainer state (momenta, Adam moments, ``num_update`` and the schedule) is
  saved with ``trainer.save_states``.
"""
import copy
import csv
import json
import math
import numbers
import os
import shutil
import time
import warnings

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from .data import BatchIterator
from .utils import atomic_path, atomic_write_text

__all__ = ["fit", "evaluate", "predict", "History", "TrainingDiverged", "DeviceAccuracy", "MacroF1",
           "make_metrics", "make_lr_scheduler"]

CHECKPOINT_FILE = "checkpoint.json"
_CHECKPOINT_FORMAT = 1
# Substrings of a monitored key that mean "lower is better"; everything else is maximised.
_MIN_KEYS = ("loss", "entropy", "nll", "perplexity", "error", "mse", "mae")


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite (raised by ``fit(..., on_nan="raise")``)."""

    def __init__(self, message, epoch=None, batch=None, history=None):
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------

def _mode_for(key):
    """"min" for loss-like keys, "max" for accuracy-like ones."""
    return "min" if any(s in key for s in _MIN_KEYS) else "max"


def _is_number(v):
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
        rows = [r for r in self.epochs if _is_number(r.get(key))]
        if not rows:
            return None
        mode = _mode_for(key) if self.mode == "auto" else self.mode
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
            atomic_write_text(path, json.dumps(self.to_dict(), indent=1, default=_json_default))
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


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError("cannot write %s to JSON" % type(obj).__name__)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------

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


def _metric_values(metrics, prefix):
    out = {}
    for metric in metrics:
        names, values = metric.get()
        if isinstance(names, str):
            names, values = [names], [values]
        for n, v in zip(names, values):
            out[prefix + n.replace("-", "_")] = float(v)
    return out


# --------------------------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------------------------

_SCHEDULES = ("step", "factor", "cosine", "poly")


def make_lr_scheduler(spec, lr, epochs, batches_per_epoch):
    """An MXNet scheduler (sized in iterations) from a shorthand, or the instance unchanged.

    ``spec``: None; an ``mx.lr_scheduler.LRScheduler`` instance (gluoncv's ``LRScheduler`` and
    ``LRSequential`` are subclasses); a name ``"step"`` (x0.1 at 50% and 75% of the epochs),
    ``"cosine"``, ``"poly"``; or a dict with ``type`` plus, all counted in epochs:

    * ``{"type": "step", "epochs": [30, 45], "factor": 0.1}`` -> ``MultiFactorScheduler``
    * ``{"type": "factor", "every": 10, "factor": 0.5}`` -> ``FactorScheduler``
    * ``{"type": "cosine", "final_lr": 0}`` -> ``CosineScheduler`` over all epochs
    * ``{"type": "poly", "power": 2, "final_lr": 0}`` -> ``PolyScheduler`` over all epochs

    and for any type ``warmup_epochs`` (linear warm-up from ``warmup_begin_lr``, default 0).
    """
    if spec is None or isinstance(spec, mx.lr_scheduler.LRScheduler):
        return spec
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise TypeError("lr_scheduler: expected None, a name (%s), a dict with a 'type' key or an "
                        "mx.lr_scheduler.LRScheduler, got %r" % (", ".join(_SCHEDULES), spec))
    spec = dict(spec)
    kind = str(spec.pop("type")).lower()
    ipe = int(batches_per_epoch)
    warmup = int(round(float(spec.pop("warmup_epochs", 0)) * ipe))
    common = {"base_lr": lr, "warmup_steps": warmup,
              "warmup_begin_lr": float(spec.pop("warmup_begin_lr", 0.0))}
    total = max(int(epochs) * ipe, warmup + 1)
    if kind == "step":
        marks = spec.pop("epochs", None)
        if marks is None:
            marks = [max(1, int(epochs * 0.5)), max(2, int(epochs * 0.75))]
        steps = sorted({int(round(float(e) * ipe)) for e in marks})
        if not steps or steps[0] < 1:
            raise ValueError("lr_scheduler step: 'epochs' must be positive epoch numbers, got %r"
                             % (marks,))
        sched = mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=spec.pop("factor", 0.1),
                                                     **common)
    elif kind == "factor":
        every = spec.pop("every", None)
        if every is None:
            raise ValueError("lr_scheduler factor: give 'every' (epochs between decays), e.g. "
                             "{'type': 'factor', 'every': 10, 'factor': 0.5}")
        sched = mx.lr_scheduler.FactorScheduler(step=max(1, int(round(every * ipe))),
                                                factor=spec.pop("factor", 0.1), **common)
    elif kind == "cosine":
        sched = mx.lr_scheduler.CosineScheduler(max_update=total,
                                                final_lr=spec.pop("final_lr", 0.0), **common)
    elif kind == "poly":
        sched = mx.lr_scheduler.PolyScheduler(max_update=total, pwr=spec.pop("power", 2),
                                              final_lr=spec.pop("final_lr", 0.0), **common)
    else:
        raise ValueError("lr_scheduler: unknown type %r; expected one of %s"
                         % (kind, ", ".join(_SCHEDULES)))
    if spec:
        raise ValueError("lr_scheduler %s: unknown keys %s" % (kind, sorted(spec)))
    return sched


# --------------------------------------------------------------------------------------------
# Contexts, data, initialisation
# --------------------------------------------------------------------------------------------

def _resolve_ctx(ctx):
    """A non-empty list of contexts: all GPUs MXNet sees when ``ctx`` is None, else the CPU."""
    if ctx is None:
        try:
            n = mx.context.num_gpus()
        except mx.base.MXNetError:
            n = 0
        return [mx.gpu(i) for i in range(n)] or [mx.cpu()]
    if isinstance(ctx, mx.Context):
        return [ctx]
    if isinstance(ctx, (list, tuple)) and ctx and all(isinstance(c, mx.Context) for c in ctx):
        return list(ctx)
    raise TypeError("ctx: expected None, an mx.Context or a non-empty list of them "
                    "(e.g. [mx.gpu(0), mx.gpu(1)]), got %r" % (ctx,))


def _ctx_arg(ctxs):
    return ctxs[0] if len(ctxs) == 1 else list(ctxs)


def _iterator_ctxs(it):
    return list(it.ctx) if isinstance(it.ctx, (list, tuple)) else [it.ctx]


def _iterator(data, name, batch_size, ctxs, shuffle=False, seed=None, augment=None):
    """``data`` as a BatchIterator on ``ctxs``: an (images, labels) pair, or an iterator."""
    if isinstance(data, BatchIterator):
        if augment is not None:
            raise ValueError("augment= applies to arrays; %s is a BatchIterator: give it "
                             "augment=%r when you create it" % (name, augment))
        if _iterator_ctxs(data) != list(ctxs):
            raise ValueError("%s is a BatchIterator on %s but the training contexts are %s: "
                             "create it with ctx=%s (or leave fit's ctx=None)"
                             % (name, data.ctx, ctxs, _ctx_arg(ctxs)))
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        if labels is None:
            raise ValueError("%s: the labels are None; training and evaluation need "
                             "(images, labels)" % name)
        return BatchIterator(images, labels, batch_size=batch_size, shuffle=shuffle,
                                      seed=seed, ctx=_ctx_arg(ctxs), augment=augment)
    raise TypeError("%s: expected an (images, labels) pair of arrays or a data.BatchIterator, "
                    "got %s" % (name, type(data).__name__))


def _fit_ctxs(ctx, train):
    """fit's contexts: ``ctx`` resolved, or a BatchIterator's own when ``ctx`` is None."""
    if ctx is None and isinstance(train, BatchIterator):
        return _iterator_ctxs(train)
    return _resolve_ctx(ctx)


def _batches(it):
    """Batches of an iterator as (list of data, list of labels), one entry per device."""
    for data, label in it:
        if isinstance(data, nd.NDArray):
            data = [data]
            label = None if label is None else [label]
        yield data, label


def _make_init(init, magnitude):
    if isinstance(init, mx.init.Initializer):
        return init
    if isinstance(init, str):
        if init.lower() == "xavier":
            return mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=magnitude)
        try:
            return mx.init.create(init.lower())
        except (ValueError, KeyError, TypeError, AssertionError):  # MXNet's registry asserts
            pass
    raise ValueError("init: expected 'xavier', another mx.init name ('uniform', 'normal', "
                     "'msraprelu', ...) or an mx.init.Initializer, got %r" % (init,))


def _is_initialized(param):
    try:
        param.list_ctx()
        return True
    except RuntimeError:
        return False


def _initialize(net, init, ctxs):
    """Initialise the parameters that are not yet; move all parameters onto ``ctxs``.

    An already initialised network keeps its weights (continue training, like Keras).
    """
    params = net.collect_params()
    if not list(params.values()):
        raise ValueError("the network has no parameters; add layers before training it")
    fresh = [p for p in params.values() if not _is_initialized(p)]
    for p in fresh:
        p.initialize(None, ctx=ctxs, default_init=init)
    if any(set(p.list_ctx()) != set(ctxs) for p in params.values()):
        params.reset_ctx(ctxs)


def _has_data(param):
    """True once the parameter holds values (not merely waiting for its shape)."""
    try:
        param.data(param.list_ctx()[0])
        return True
    except (RuntimeError, gluon.parameter.DeferredInitializationError):
        return False


def _check_initialized(net, what):
    missing = [p.name for p in net.collect_params().values() if not _is_initialized(p)]
    if missing:
        raise RuntimeError("%s: the network is not initialised (e.g. %s); train it with fit() or "
                           "call net.initialize() / net.load_parameters() first"
                           % (what, missing[0]))


def _finish_deferred_init(net, it):
    """Run one sample through the network so deferred shapes get their initial values now.

    That makes the initial weights a function of the seed alone (not of later random draws),
    and lets the loop snapshot them before the first epoch. ``it.epoch`` is set explicitly at
    the start of every epoch, so the partial pass here changes nothing.
    """
    if all(_has_data(p) for p in net.collect_params().values()):
        return
    epoch = it.epoch
    data, _ = next(_batches(it))
    with autograd.predict_mode():
        net(data[0][:1])
    it.epoch = epoch


def _average_statistics(net):
    """Average the non-trained parameters (BatchNorm running mean/var) over the devices.

    Each device updates its own BatchNorm statistics from its slice of the batch; averaging
    them once per epoch makes evaluation independent of which device a sample lands on, and
    equals what ``save_parameters`` writes, so a resumed run continues from the same state.
    """
    for p in net.collect_params().values():
        if p.grad_req == "null" and len(p.list_ctx()) > 1:
            copies = p.list_data()
            mean = nd.add_n(*[c.as_in_context(copies[0].context) for c in copies]) / len(copies)
            for c in copies:  # in place: set_data would reset the trainer's kvstore state
                c[:] = mean.as_in_context(c.context)


def _epoch_seed(seed, epoch):
    """MXNet's seed for ``epoch``: a function of (seed, epoch) only, so a resume replays it."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0] % (2 ** 31))


def _snapshot(net):
    """A CPU copy of every parameter, by structural name (the names save_parameters uses)."""
    params = net._collect_params_with_prefix()
    return {name: p.data().copyto(mx.cpu()) for name, p in params.items()}


def _restore(net, snapshot):
    for name, p in net._collect_params_with_prefix().items():
        for c in p.list_data():  # in place, as _average_statistics
            c[:] = snapshot[name].as_in_context(c.context)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------

# Test-time augmentation: name -> the views of a batch (NCHW) whose predictions are averaged.
TTA_VIEWS = {
    "flip": (lambda x: x, lambda x: nd.flip(x, axis=3)),  # the image and its left-right mirror
}


def _check_tta(tta):
    if tta is not None and tta not in TTA_VIEWS:
        raise ValueError("tta: expected None or one of %s, got %r" % (sorted(TTA_VIEWS), tta))
    return tta


def _outputs(net, x, tta=None):
    """``net(x)``, or with ``tta`` the log of the class probabilities averaged over its views.

    Averaged log-probabilities are valid logits (their softmax is the averaged probabilities), so
    the loss and the metrics downstream treat both alike. The mean is taken as a log-mean-exp
    shifted by the views' maximum, which stays finite where a probability underflows.
    """
    if tta is None:
        return net(x)
    logp = nd.stack(*[nd.log_softmax(net(view(x))) for view in TTA_VIEWS[tta]])
    top = logp.max(axis=0)
    return top + nd.log(nd.mean(nd.exp(nd.broadcast_sub(logp, top.expand_dims(0))), axis=0))


def _evaluate_iter(net, it, metrics, loss_fn, tta=None):
    """Mean loss and metric values over an iterator (prediction mode, no autograd)."""
    for m in metrics:
        m.reset()
    total, count = [], 0
    for data, label in _batches(it):
        outs = [_outputs(net, x, tta) for x in data]
        for out, y in zip(outs, label):
            total.append(loss_fn(out, y).sum())
        probs = [nd.softmax(o) for o in outs]
        for m in metrics:
            m.update(label, probs)
        count += sum(x.shape[0] for x in data)
    loss = sum(float(t.asscalar()) for t in total) / max(count, 1)
    return {"loss": loss, **_metric_values(metrics, "")}


def evaluate(net, data, ctx=None, metrics="accuracy", batch_size=512, tta=None):
    """Loss and metrics of ``net`` on ``data`` ((images, labels) or a BatchIterator), as a dict.

    ``tta="flip"`` averages the class probabilities of each image and its left-right mirror
    (test-time augmentation; twice the work). The loss is then the cross-entropy of the averaged
    probabilities.

    >>> evaluate(net, (test.images, test.labels))          # doctest: +SKIP
    {'loss': 0.25, 'accuracy': 0.91}
    """
    ctxs = _fit_ctxs(ctx, data)
    _check_initialized(net, "evaluate")
    it = _iterator(data, "data", _check_batch_size(batch_size), ctxs)
    return _evaluate_iter(net, it, make_metrics(metrics), gluon.loss.SoftmaxCrossEntropyLoss(),
                          _check_tta(tta))


def predict(net, images, ctx=None, batch_size=512, tta=None):
    """Class probabilities (N x C numpy) and predicted labels (N numpy) for ``images``, batch-wise.

    ``images`` is an array (N x H x W, N x H x W x C or N x C x H x W, uint8 or float) or a
    BatchIterator (its labels, if any, are ignored). ``tta="flip"``: as in ``evaluate``.
    """
    _check_tta(tta)
    ctxs = _fit_ctxs(ctx, images)
    _check_initialized(net, "predict")
    if isinstance(images, BatchIterator):
        it = _iterator(images, "images", batch_size, ctxs)
    else:
        it = BatchIterator(images, None, batch_size=_check_batch_size(batch_size),
                                    ctx=_ctx_arg(ctxs))
    chunks = []
    for data, _ in _batches(it):
        chunks.extend(nd.softmax(_outputs(net, x, tta)) for x in data)
    probs = np.concatenate([c.asnumpy() for c in chunks]) if chunks else np.zeros((0, 0), "float32")
    return probs, probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------

def _load_checkpoint(folder):
    path = os.path.join(folder, CHECKPOINT_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    if state.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError("%s: unknown checkpoint format %r" % (path, state.get("format")))
    return state


def _link_atomic(src, dst):
    """Make ``dst`` the same file as ``src`` (a hard link, else a copy), replaced atomically."""
    with atomic_path(dst) as tmp:
        os.remove(tmp)
        try:
            os.link(src, tmp)
        except OSError:  # a file system without hard links
            shutil.copyfile(src, tmp)


def _save_checkpoint(folder, net, trainer, state, improved):
    """Parameters, trainer state, then checkpoint.json (which names them), then the links.

    Every file is written under a temporary name and renamed, and checkpoint.json - the only
    file a resume trusts - is replaced after the files it names are complete, so a crash at
    any point leaves a whole checkpoint.  ``last.params`` and ``best.params`` are stable names
    (hard links) for people and other tools; older epoch files are removed.
    """
    os.makedirs(folder, exist_ok=True)
    tag = "epoch-%04d" % state["epoch"]
    params, states = tag + ".params", tag + ".states"
    with atomic_path(os.path.join(folder, params)) as tmp:
        net.save_parameters(tmp)
    with atomic_path(os.path.join(folder, states)) as tmp:
        trainer.save_states(tmp)
    state = dict(state, params=params, states=states)
    atomic_write_text(os.path.join(folder, CHECKPOINT_FILE),
                      json.dumps(state, indent=1, default=_json_default))
    _link_atomic(os.path.join(folder, params), os.path.join(folder, "last.params"))
    if improved:
        _link_atomic(os.path.join(folder, params), os.path.join(folder, "best.params"))
    History.from_dict(state["history"]).save(os.path.join(folder, "history.json"))
    for name in os.listdir(folder):  # older epochs, and temporaries of a writer that was killed
        if (name.startswith("epoch-") and name not in (params, states)) or name.startswith(".tmp-"):
            os.remove(os.path.join(folder, name))


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------

def _check_batch_size(batch_size):
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError("batch_size: expected a positive integer, got %r" % (batch_size,))
    return int(batch_size)


def _monitor_key(monitor, have_val, metric_names):
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


def _early_stopping(spec, monitor, keys):
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
        cfg["mode"] = _mode_for(cfg["key"])
    return cfg


def _better(value, best, mode, min_delta=0.0):
    if not _is_number(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class _Tracker:
    """The best epoch (for best.params and restore_best) and early stopping, as Keras does."""

    def __init__(self, key, stopper, keep_best):
        self.key, self.mode, self.stopper, self.keep_best = key, _mode_for(key), stopper, keep_best
        self.best, self.es_best, self.wait, self.snapshot = None, None, 0, None

    def update(self, row, net):
        """(improved, stop reason or None) after one epoch's row."""
        improved = _better(row.get(self.key), self.best, self.mode)
        if improved:
            self.best = row[self.key]
            if self.keep_best:
                self.snapshot = _snapshot(net)
        es = self.stopper
        if es is None:
            return improved, None
        if _better(row.get(es["key"]), self.es_best, es["mode"], es["min_delta"]):
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


def _check_optimizer(optimizer, optimizer_params, lr_scheduler):
    if isinstance(optimizer, mx.optimizer.Optimizer):
        if optimizer_params or lr_scheduler is not None:
            raise ValueError("optimizer is an mx.optimizer.Optimizer instance: give it its "
                             "lr_scheduler and parameters when you create it, not through "
                             "lr_scheduler=/optimizer_params=")
        return
    if not isinstance(optimizer, str):
        raise TypeError("optimizer: expected a name ('sgd', 'adam', 'nag', ...) or an "
                        "mx.optimizer.Optimizer, got %r" % (optimizer,))
    if optimizer.lower() not in mx.optimizer.Optimizer.opt_registry:
        raise ValueError("optimizer: unknown name %r; MXNet knows %s"
                         % (optimizer, ", ".join(sorted(mx.optimizer.Optimizer.opt_registry))))


def _make_trainer(net, optimizer, lr, wd, optimizer_params, scheduler, kvstore):
    """A gluon.Trainer; a scheduler instance keeps its own base_lr (``lr`` is for shorthands)."""
    if isinstance(optimizer, mx.optimizer.Optimizer):
        return gluon.Trainer(net.collect_params(), optimizer, kvstore=kvstore)
    params = dict(optimizer_params or {})
    params.setdefault("wd", wd)
    if scheduler is not None:
        params["lr_scheduler"] = scheduler
        params.setdefault("learning_rate", scheduler.base_lr)
    else:
        params.setdefault("learning_rate", lr)
    return gluon.Trainer(net.collect_params(), optimizer.lower(), params, kvstore=kvstore)


class _Progress:
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
            self.bar.set_postfix(_short(values), refresh=False)

    def end(self, row):
        values = {k: v for k, v in row.items() if k not in ("epoch",)}
        if self.bar is not None:
            self.bar.set_postfix(_short(values), refresh=True)
            self.bar.close()
            self.bar = None
        elif self.level == 2:
            self.say("epoch %d/%d  %s" % (row["epoch"], self.epochs, "  ".join(
                "%s %s" % kv for kv in _short(values).items())))

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _short(values):
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


def _weights_norm(net, ctx):
    """Sum of the parameter norms on ``ctx`` (an NDArray): finite iff every weight is."""
    norms = [p.data(ctx).norm() for p in net.collect_params().values()]
    return nd.add_n(*norms) if len(norms) > 1 else norms[0]


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


def _train_epoch(net, it, trainer, loss_fn, metrics, progress, log_every):
    """One pass over ``it``.

    Returns ``(row, None)``, or ``(None, (batch, what))`` when the loss or the weights became
    non-finite (batch: 1-based).  The host syncs only every ``log_every`` batches: the batch
    losses wait on the device until then, and the check looks at all of them at once.
    """
    for m in metrics:
        m.reset()
    ctx0 = next(iter(net.collect_params().values())).list_ctx()[0]
    state = {"pending": [], "total": 0.0, "count": 0}

    def sync(batch):  # batch: 1-based number of the last batch run
        values = nd.concat(*state["pending"], dim=0).asnumpy() if state["pending"] else []
        state["pending"] = []
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            return batch - len(values) + 1 + int(bad[0]), "loss"
        if not math.isfinite(float(_weights_norm(net, ctx0).asscalar())):
            return batch, "weights"  # e.g. NaN pixels: ReLU hides them from the loss
        state["total"] += float(np.sum(values))
        progress.show({"loss": state["total"] / max(state["count"], 1),
                       **_metric_values(metrics, "")})
        return None

    start = time.perf_counter()
    batch = 0
    for batch, (data, label) in enumerate(_batches(it), 1):
        with autograd.record():
            outs = [net(x) for x in data]
            losses = [loss_fn(o, y) for o, y in zip(outs, label)]
        autograd.backward(losses)
        n = sum(x.shape[0] for x in data)
        trainer.step(n)
        state["count"] += n
        sums = [l.sum().as_in_context(ctx0) for l in losses]
        state["pending"].append((nd.add_n(*sums) if len(sums) > 1 else sums[0]).reshape((1,)))
        probs = [nd.softmax(o.detach()) for o in outs]
        for m in metrics:
            m.update(label, probs)
        progress.advance()
        if batch % log_every == 0:
            problem = sync(batch)
            if problem:
                return None, problem
    problem = sync(batch)
    if problem:
        return None, problem
    seconds = time.perf_counter() - start
    row = {"train_loss": state["total"] / max(state["count"], 1),
           **_metric_values(metrics, "train_")}
    row["images_per_sec"] = state["count"] / seconds if seconds > 0 else float("nan")
    return row, None


def fit(net, train, val=None, epochs=10, optimizer="sgd", lr=0.1, wd=0.0, batch_size=128,
        ctx=None, metrics="accuracy", init="xavier", init_magnitude=3.0, seed=None,
        lr_scheduler=None, hybridize=True, checkpoint_dir=None, resume=True, early_stopping=None,
        restore_best=False, monitor="val_accuracy", augment=None, verbose=True,
        optimizer_params=None, on_nan="stop", kvstore="device", log_every=50,
        label_smoothing=0.0):
    """Train ``net`` with softmax cross-entropy and return its :class:`History`.

    Parameters (the less obvious ones):

    train, val : an (images, labels) pair of arrays (train is shuffled with ``seed``, val not)
        or a ``data.BatchIterator`` (used as it is; its contexts when ``ctx`` is None).
    optimizer : an MXNet optimizer name ("sgd", "adam", "nag", ...) with ``lr``, ``wd`` and
        ``optimizer_params`` (e.g. ``{"momentum": 0.9}``), or an ``mx.optimizer.Optimizer``.
    ctx : None (every GPU MXNet sees, else the CPU), a context, or a list of contexts: each
        batch is split across them and the gradients are summed by the kvstore (``kvstore``).
    metrics : name(s), dict(s) ``{"name": ..., **kwargs}`` or ``mx.metric.EvalMetric``\\ s;
        "accuracy" (default), "top_k_accuracy_5", "ce", "f1" (macro-F1 over all classes).
    init : "xavier" (Glorot uniform, ``init_magnitude`` 3.0 = MXNet's and Keras's default; the
        seed notebook used 2.24), another mx.init name, or an ``mx.init.Initializer``.
        Parameters that are already initialised are kept (continue training).
    seed : makes the run reproducible (init, shuffling, dropout, augmentation); None draws one
        and records it in ``history.meta["seed"]``.
    lr_scheduler : see :func:`make_lr_scheduler` (a shorthand, or an MXNet / gluoncv scheduler
        instance sized in iterations: ``len(batch iterator)`` per epoch).
    hybridize : hybridize the network (static memory on one device; plain on several, where
        MXNet 1.9.1 with static memory loses BatchNorm statistics updates now and then).
    checkpoint_dir : write a checkpoint after every epoch there (last and best parameters,
        trainer state, history); with ``resume=True`` a later call continues from it exactly.
    early_stopping : patience (int) or ``dict(patience=, min_delta=, monitor=)``.
    restore_best : put back the weights of the best ``monitor`` epoch at the end.
    monitor : the key for the best epoch ("val_accuracy", "val_loss", "accuracy", ...).
    verbose : 1/True a tqdm bar per epoch, 2 one line per epoch, 0/False silent.
    on_nan : "stop" (default: stop, keep the last good weights and checkpoint, set
        ``history.stopped_reason``, warn) or "raise" (the same, then raise TrainingDiverged).
    log_every : batches between host syncs (progress bar refresh and the non-finite check).
    label_smoothing : train against labels smoothed by this amount (as Keras's
        ``label_smoothing``: the true class gets ``1 - e + e/K``, the others ``e/K``).
        ``train_loss`` is then the smoothed loss being minimised, as in Keras; ``val_loss``
        stays the plain cross-entropy.
    """
    if not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError("epochs: expected a non-negative integer, got %r" % (epochs,))
    if on_nan not in ("stop", "raise"):
        raise ValueError("on_nan: expected 'stop' or 'raise', got %r" % (on_nan,))
    if seed is not None and (not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError("seed: expected None or a non-negative integer, got %r" % (seed,))
    if not isinstance(log_every, numbers.Integral) or log_every < 1:
        raise ValueError("log_every: expected a positive integer, got %r" % (log_every,))
    if not (isinstance(label_smoothing, numbers.Real) and 0 <= label_smoothing < 1):
        raise ValueError("label_smoothing: expected a number in [0, 1), e.g. 0.1, got %r"
                         % (label_smoothing,))
    batch_size = _check_batch_size(batch_size)
    _check_optimizer(optimizer, optimizer_params, lr_scheduler)
    progress = _Progress(verbose, int(epochs))
    ctxs = _fit_ctxs(ctx, train)
    saved = _load_checkpoint(checkpoint_dir) if checkpoint_dir and resume else None
    seed = _run_seed(seed, saved, batch_size, checkpoint_dir)

    # data, metrics, what to monitor
    train_it = _iterator(train, "train", batch_size, ctxs, shuffle=True, seed=seed,
                         augment=augment)
    val_it = None if val is None else _iterator(val, "val", batch_size, ctxs)
    train_metrics, val_metrics = make_metrics(metrics), make_metrics(metrics)
    names = list(_metric_values(train_metrics, ""))
    keys = lambda m: _monitor_key(m, val_it is not None, names)  # noqa: E731
    if val_it is None and monitor.startswith("val_") and not (restore_best or early_stopping):
        monitor = monitor[4:]  # no validation data: the best epoch is the training one's
    tracker = _Tracker(keys(monitor), _early_stopping(early_stopping, monitor, keys),
                       restore_best)

    # network and trainer
    mx.random.seed(int(seed))
    _initialize(net, _make_init(init, init_magnitude), ctxs)
    _finish_deferred_init(net, train_it)
    if hybridize and isinstance(net, gluon.HybridBlock):
        # static memory is ~5-30% faster on one device; on several, MXNet 1.9.1 sometimes
        # loses a BatchNorm statistics update with it (docs/training.md), so plain there
        static = len(ctxs) == 1
        net.hybridize(static_alloc=static, static_shape=static)
    if saved is not None:
        net.load_parameters(os.path.join(checkpoint_dir, saved["params"]), ctx=ctxs)
    scheduler = make_lr_scheduler(lr_scheduler, lr, epochs, len(train_it))
    trainer = _make_trainer(net, optimizer, lr, wd, optimizer_params, scheduler, kvstore)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    train_loss_fn = smoothed_cross_entropy(label_smoothing) if label_smoothing else loss_fn

    history = History(monitor=tracker.key, meta={
        "seed": int(seed), "batch_size": batch_size,
        "optimizer": optimizer if isinstance(optimizer, str) else type(optimizer).__name__,
        "train_samples": train_it.num_samples})
    start = 0
    if saved is not None:
        trainer.load_states(os.path.join(checkpoint_dir, saved["states"]))
        history = History.from_dict(saved["history"])
        history.monitor = tracker.key
        tracker.load(saved, history, checkpoint_dir)
        start = epochs if history.stopped_reason else saved["epoch"]
        progress.say("resumed from %s after epoch %d%s" % (
            checkpoint_dir, saved["epoch"],
            " (the run had stopped: %s)" % history.stopped_reason if start == epochs else ""))
    history.meta["contexts"] = [str(c) for c in ctxs]

    # the loop
    try:
        for epoch in range(start, epochs):
            last_good = _snapshot(net)
            mx.random.seed(_epoch_seed(seed, epoch))  # dropout: a function of (seed, epoch)
            train_it.epoch = epoch  # shuffle and augmentation: a function of (seed, epoch)
            progress.start(epoch + 1, len(train_it))
            tic = time.perf_counter()
            row, problem = _train_epoch(net, train_it, trainer, train_loss_fn, train_metrics,
                                        progress, log_every)
            if problem:
                progress.close()
                _diverged(net, history, last_good, epoch + 1, problem, checkpoint_dir, on_nan)
                break
            if len(ctxs) > 1:
                _average_statistics(net)
            if val_it is not None:
                row.update({"val_" + k: v for k, v in
                            _evaluate_iter(net, val_it, val_metrics, loss_fn).items()})
            speed = row.pop("images_per_sec")
            row = {"epoch": epoch + 1, **row, "lr": float(trainer.learning_rate),
                   "seconds": time.perf_counter() - tic, "images_per_sec": speed}
            history.append(row)
            improved, history.stopped_reason = tracker.update(row, net)
            progress.end(row)
            if checkpoint_dir:
                _save_checkpoint(checkpoint_dir, net, trainer, dict(
                    tracker.state(), format=_CHECKPOINT_FORMAT, epoch=epoch + 1, seed=int(seed),
                    batch_size=batch_size, iterator_epoch=epoch + 1,
                    history=history.to_dict()), improved)
            if history.stopped_reason:
                progress.say(history.stopped_reason)
                break
    finally:
        progress.close()
    if restore_best and tracker.snapshot is not None:
        _restore(net, tracker.snapshot)
        history.meta["restored_epoch"] = history.best_epoch
    if on_nan == "raise" and history.meta.get("diverged"):
        d = history.meta["diverged"]
        raise TrainingDiverged(history.stopped_reason, d["epoch"], d["batch"], history)
    return history


def _run_seed(seed, saved, batch_size, checkpoint_dir):
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


def _diverged(net, history, last_good, epoch, problem, checkpoint_dir, on_nan):
    """Record a non-finite loss: put back the last good weights and say what happened."""
    batch, what = problem
    _restore(net, last_good)
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
