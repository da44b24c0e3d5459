"""Devices and gradient reduction: parse context lists and choose the kvstore.

One context trains alone; several contexts (GPUs, or CPU contexts that run exactly the same
split-and-load and kvstore code) split every batch and the Trainer reduces their gradients.
"""
import mxnet as mx


def parse_ctx(text):
    """Turn ``"cpu"``, ``"gpu"`` (all GPUs), ``"gpu:0,gpu:1"`` or ``"cpu:0,cpu:1"`` into contexts.

    Returns one ``mx.Context`` for a single device and a list for several; ``None`` or ``""``
    gives ``None`` (the training loop then picks all GPUs if MXNet sees any, else the CPU).
    """
    if text is None or isinstance(text, mx.Context) or isinstance(text, (list, tuple)):
        return text
    text = text.strip().lower()
    if not text:
        return None
    if text == "gpu":
        n = mx.context.num_gpus()
        if n == 0:
            raise ValueError("ctx 'gpu': MXNet sees no GPU here; use 'cpu' or check the CUDA build")
        return [mx.gpu(i) for i in range(n)] if n > 1 else mx.gpu(0)
    devices = []
    for item in text.split(","):
        kind, _, index = item.strip().partition(":")
        if kind not in ("cpu", "gpu") or (index and not index.isdigit()):
            raise ValueError("ctx %r: expected 'cpu', 'gpu', or a list like 'gpu:0,gpu:1', got %r"
                             % (text, item))
        devices.append(getattr(mx, kind)(int(index or 0)))
    return devices[0] if len(devices) == 1 else devices
