"""Evaluation and prediction, with optional test-time augmentation (TTA)."""
import numpy as np
from mxnet import gluon, nd

from ..data import BatchIterator
from ..validation import check_batch_size, did_you_mean
from .inputs import batches, check_fits_network, ctx_arg, fit_ctxs, make_iterator
from .metrics import make_metrics, metric_values
from .params import check_initialized

__all__ = ["TTA_VIEWS", "check_tta", "evaluate", "predict", "evaluate_iter"]


TTA_VIEWS = {
    "flip": (lambda x: x, lambda x: nd.flip(x, axis=3)),  # the image and its left-right mirror
}


def check_tta(tta):
    """``tta`` if it is None or a name in ``TTA_VIEWS``, else a ValueError (before any work)."""
    if tta is not None and (not isinstance(tta, str) or tta not in TTA_VIEWS):
        raise ValueError("tta: expected None or one of %s, got %r%s"
                         % (sorted(TTA_VIEWS), tta, did_you_mean(tta, TTA_VIEWS)))
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


def evaluate_iter(net, it, metrics, loss_fn, tta=None):
    """Mean loss and metric values over an iterator (prediction mode, no autograd)."""
    for m in metrics:
        m.reset()
    total, count = [], 0
    for data, label in batches(it):
        outs = [_outputs(net, x, tta) for x in data]
        for out, y in zip(outs, label):
            total.append(loss_fn(out, y).sum())
        probs = [nd.softmax(o) for o in outs]
        for m in metrics:
            m.update(label, probs)
        count += sum(x.shape[0] for x in data)
    loss = sum(float(t.asscalar()) for t in total) / max(count, 1)
    return {"loss": loss, **metric_values(metrics, "")}


def evaluate(net, data, ctx=None, metrics="accuracy", batch_size=512, tta=None):
    """Loss and metrics of ``net`` on ``data`` ((images, labels) or a BatchIterator), as a dict.

    ``tta="flip"`` averages the class probabilities of each image and its left-right mirror
    (test-time augmentation; twice the work). The loss is then the cross-entropy of the averaged
    probabilities.

    >>> evaluate(net, (test.images, test.labels))          # doctest: +SKIP
    {'loss': 0.25, 'accuracy': 0.91}
    """
    batch_size, tta = check_batch_size(batch_size), check_tta(tta)
    ctxs = fit_ctxs(ctx, data)
    check_initialized(net, "evaluate")
    it = make_iterator(data, "data", batch_size, ctxs)
    check_fits_network(net, it, "data")
    return evaluate_iter(net, it, make_metrics(metrics), gluon.loss.SoftmaxCrossEntropyLoss(), tta)


def predict(net, images, ctx=None, batch_size=512, tta=None):
    """Class probabilities (N x C numpy) and predicted labels (N numpy) for ``images``, batch-wise.

    ``images`` is an array (N x H x W, N x H x W x C or N x C x H x W, uint8 or float) or a
    BatchIterator (its labels, if any, are ignored). ``tta="flip"``: as in ``evaluate``.
    """
    batch_size, tta = check_batch_size(batch_size), check_tta(tta)
    ctxs = fit_ctxs(ctx, images)
    check_initialized(net, "predict")
    if isinstance(images, BatchIterator):
        it = make_iterator(images, "images", batch_size, ctxs)
    else:
        it = BatchIterator(images, None, batch_size=batch_size, ctx=ctx_arg(ctxs))
    check_fits_network(net, it, "images", labels=False)
    chunks = []
    for data, _ in batches(it):
        chunks.extend(nd.softmax(_outputs(net, x, tta)) for x in data)
    probs = np.concatenate([c.asnumpy() for c in chunks]) if chunks else np.zeros((0, 0), "float32")
    return probs, probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)

