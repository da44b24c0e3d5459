"""Training and evaluation inputs: contexts, batch iterators and their batches."""
import mxnet as mx
from mxnet import autograd, nd

from ..data import BatchIterator
from ..validation import resolve_contexts

__all__ = ["ctx_arg", "iterator_ctxs", "make_iterator", "fit_ctxs", "batches",
           "check_fits_network"]


def ctx_arg(ctxs):
    """One context alone, several as a list (what BatchIterator's ``ctx`` takes)."""
    return ctxs[0] if len(ctxs) == 1 else list(ctxs)


def iterator_ctxs(it):
    """A BatchIterator's contexts as a list."""
    return list(it.ctx) if isinstance(it.ctx, (list, tuple)) else [it.ctx]


def make_iterator(data, name, batch_size, ctxs, shuffle=False, seed=None, augment=None,
                  shard=None):
    """``data`` as a BatchIterator on ``ctxs``: an (images, labels) pair, or an iterator.
    ``shard``: this worker's ``(rank, workers)`` part of every batch (data-parallel training)."""
    if isinstance(data, BatchIterator):
        if augment is not None:
            raise ValueError("augment= applies to arrays; %s is a BatchIterator: give it "
                             "augment=%r when you create it" % (name, augment))
        if data.shard != (None if shard is None else tuple(shard)):
            raise ValueError("%s is a BatchIterator with shard=%s, but this worker's part is %s: "
                             "create it with shard=(rank, num_workers) of the kvstore, or pass "
                             "arrays" % (name, data.shard, shard))
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
                             seed=seed, ctx=ctx_arg(ctxs), augment=augment, shard=shard)
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


def _fmt(shape):
    return "x".join(str(d) for d in shape)


def check_fits_network(net, it, name, labels=True):
    """Run one image of ``it`` through ``net`` (prediction mode) before any work.

    The array checks cannot know what the network was built for; this can. Images of another
    shape or channel count get a ValueError naming them instead of MXNet's "Shape inconsistent"
    traceback, and labels beyond the network's outputs one instead of a silently wrong loss
    (MXNet's ``pick`` clips them to the last class). A deferred-shape network gets its initial
    values here, as on its first batch. ``labels=False`` (predict) ignores the labels.
    ``it.epoch`` is left as it was.
    """
    epoch = it.epoch
    data, _ = next(batches(it))
    it.epoch = epoch
    x = data[0][:1]
    try:
        with autograd.predict_mode():
            out = net(x)
        out.wait_to_read()
    except mx.base.MXNetError as err:
        detail = str(err).strip().splitlines()
        raise ValueError("images: an image of shape %s (channels x height x width, from %s) does "
                         "not fit the network (MXNet: %s); give images of the shape it was built "
                         "for (build_cnn's input_shape, default 1x28x28)"
                         % (_fmt(x.shape[1:]), name, detail[-1] if detail else err)) from None
    labels = it.labels if labels else None
    classes = out.shape[-1]
    if labels is not None and len(labels) and int(labels.max()) >= classes:
        raise ValueError("labels: label %d (in %s) is out of range for a network with %d outputs "
                         "(classes 0..%d); build the network with classes=%d, or check the labels"
                         % (int(labels.max()), name, classes, classes - 1, int(labels.max()) + 1))
