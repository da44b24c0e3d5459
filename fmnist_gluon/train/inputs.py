"""Training and evaluation inputs: contexts, batch iterators and their batches."""
from mxnet import nd

from ..data import BatchIterator
from ..validation import resolve_contexts

__all__ = ["ctx_arg", "iterator_ctxs", "make_iterator", "fit_ctxs", "batches"]


def ctx_arg(ctxs):
    """One context alone, several as a list (what BatchIterator's ``ctx`` takes)."""
    return ctxs[0] if len(ctxs) == 1 else list(ctxs)


def iterator_ctxs(it):
    """A BatchIterator's contexts as a list."""
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
    """fit's contexts: a BatchIterator's own when ``ctx`` is None, else ``ctx`` resolved by
    :func:`~fmnist_gluon.validation.resolve_contexts` (None: every GPU, else the CPU)."""
    if ctx is None and isinstance(train, BatchIterator):
        return iterator_ctxs(train)
    return resolve_contexts(ctx)


def batches(it):
    """Batches of an iterator as (list of data, list of labels), one entry per device."""
    for data, label in it:
        if isinstance(data, nd.NDArray):
            data = [data]
            label = None if label is None else [label]
        yield data, label
