"""Devices and gradient reduction: parse context lists and choose the kvstore.

One context trains alone; several contexts (GPUs, or CPU contexts that run exactly the same
split-and-load and kvstore code) split every batch and the Trainer reduces their gradients.
"""
import mxnet as mx

from .validation import resolve_contexts


def parse_ctx(text):
    """Turn ``"cpu"``, ``"gpu"`` (all GPUs), ``"gpu:0,gpu:1"`` or ``"cpu:0,cpu:1"`` into contexts.

    Returns one ``mx.Context`` for a single device and a list for several; ``None`` or ``""``
    gives ``None`` (``resolve_contexts``'s default: every GPU MXNet sees, else the CPU).
    """
    if text is None or isinstance(text, mx.Context) or isinstance(text, (list, tuple)):
        return text
    if not text.strip():
        return None
    ctxs = resolve_contexts(text)  # the one parser (fmnist_gluon.validation)
    return ctxs[0] if len(ctxs) == 1 else ctxs
