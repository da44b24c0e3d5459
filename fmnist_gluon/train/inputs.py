"""Training and evaluation inputs: contexts, batch iterators and their batches."""
import numbers

import mxnet as mx
from mxnet import nd

from ..data import BatchIterator

__all__ = ["resolve_ctx", "ctx_arg", "iterator_ctxs", "make_iterator", "fit_ctxs", "batches",
           "check_batch_size"]


def resolve_ctx(ctx):
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


def ctx_arg(ctxs):
    return ctxs[0] if len(ctxs) == 1 else list(ctxs)


def iterator_ctxs(it):
    return list(it.ctx) if isinstance(it.ctx, (list, tuple)) else [it.ctx]


def make_iterator(data, name, batch_size, ctxs, shuffle=False, seed=None, augment=None):
    """``data`` as a BatchIterator on ``ctxs``: an (images, labels) pair, or an iterator."""
    if isinstance(data, BatchIterator):
        if augment is not None:
            raise ValueError("augment= applies to arrays; %s is a BatchIterator: give it "
                             "augment=%r when you create it" % (name, augment))
        if iterator_ctxs(data) != list(ctxs):
            raise ValueError("%s is a BatchIterator on %s but the training contexts are %s: "
                             "create it with ctx=%s (or leave fit's ctx=None)"
                             % (name, data.ctx, ctxs, ctx_arg(ctxs)))
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        if labels is None:
            raise ValueError("%s: the labels are None; training and evaluation need "
                             "(images, labels)" % name)
        return BatchIterator(images, labels, batch_size=batch_size, shuffle=shuffle,
                                      seed=seed, ctx=ctx_arg(ctxs), augment=augment)
    raise TypeError("%s: expected an (images, labels) pair of arrays or a data.BatchIterator, "
                    "got %s" % (name, type(data).__name__))


def fit_ctxs(ctx, train):
    """fit's contexts: ``ctx`` resolved, or a BatchIterator's own when ``ctx`` is None."""
    if ctx is None and isinstance(train, BatchIterator):
        return iterator_ctxs(train)
    return resolve_ctx(ctx)


def batches(it):
    """Batches of an iterator as (list of data, list of labels), one entry per device."""
    for data, label in it:
        if isinstance(data, nd.NDArray):
            data = [data]
            label = None if label is None else [label]
        yield data, label
def check_batch_size(batch_size):
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError("batch_size: expected a positive integer, got %r" % (batch_size,))
    return int(batch_size)

