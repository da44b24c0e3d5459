"""Hand a trained network to another runtime: MXNet's symbol + params, or ONNX.

* ``export_mxnet(net, prefix)`` writes ``PREFIX-symbol.json`` and ``PREFIX-0000.params``
  (``HybridBlock.export``): load them with ``gluon.SymbolBlock.imports`` or MXNet's C++/Scala
  APIs without this package.
* ``export_onnx(net, path)`` converts that pair with ``mxnet.onnx.export_model`` (opset 13 where
  available) into one ``.onnx`` file whose input ``data`` is float32 N x 1 x 28 x 28 with a free
  batch size, pixels scaled to [0, 1] as in training; the output is the logits (apply a softmax
  for probabilities). Needs ``pip install .[onnx]`` (onnx; onnxruntime to run it).

Both trace the network in prediction mode: BatchNorm uses its running statistics and Dropout is
the identity. Every file is written under a temporary name and renamed, so an interrupted export
leaves no half-written model behind.
"""
import json
import os
import re
import tempfile
import warnings

import numpy as np

from .utils import atomic_path

__all__ = ["export_mxnet", "export_onnx", "ExportError", "onnx_session", "onnx_predict"]

DEFAULT_INPUT_SHAPE = (1, 28, 28)


class ExportError(RuntimeError):
    """The network cannot be exported in the asked format (the message names the layer)."""


def _leaves(net):
    """(index, block) of each leaf of a (nested) HybridSequential, in order."""
    from mxnet.gluon import nn

    def walk(block):
        if isinstance(block, nn.HybridSequential):
            for child in block:
                yield from walk(child)
        else:
            yield block
    return list(enumerate(walk(net)))


def _check_hybrid(net):
    from mxnet.gluon import HybridBlock

    if not isinstance(net, HybridBlock):
        raise ExportError("export needs a gluon.HybridBlock (build_cnn gives one), got %s"
                          % type(net).__name__)
    for i, block in _leaves(net):
        if not isinstance(block, HybridBlock):
            raise ExportError("layer %d (%s) is not a HybridBlock, so it has no symbolic graph "
                              "to export; write it as a HybridBlock" % (i, type(block).__name__))


def _traced(net, input_shape):
    """Hybridize ``net`` and run one zero batch so it has a cached graph to export."""
    import mxnet as mx

    _check_hybrid(net)
    ctx = next(iter(net.collect_params().values())).list_ctx()[0]
    net.hybridize()
    with mx.autograd.predict_mode():
        net(mx.nd.zeros((1,) + tuple(input_shape), ctx=ctx))


def _export_to(net, folder, input_shape):
    """HybridBlock.export into ``folder``: returns (symbol path, params path)."""
    _traced(net, input_shape)
    prefix = os.path.join(folder, "model")
    net.export(prefix, epoch=0)
    return prefix + "-symbol.json", prefix + "-0000.params"


def export_mxnet(net, prefix, input_shape=DEFAULT_INPUT_SHAPE):
    """Write ``PREFIX-symbol.json`` and ``PREFIX-0000.params``; returns the two paths.

    ``net`` must be initialized (trained); it is hybridized and traced on one zero batch of
    ``input_shape`` (per image, default 1x28x28).
    """
    prefix = str(prefix)
    folder = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(folder, exist_ok=True)
    paths = (prefix + "-symbol.json", prefix + "-0000.params")
    with tempfile.TemporaryDirectory(prefix=".export-", dir=folder) as tmp:
        written = _export_to(net, tmp, input_shape)
        for src, dst in zip(written, paths):
            with atomic_path(dst) as part:
                os.replace(src, part)
    return paths


def _layer_of(node_name, net):
    """The leaf (index, block) whose name prefix starts ``node_name``, or None."""
    best = None
    for i, block in _leaves(net):
        if node_name.startswith(block.prefix) and (best is None or
                                                    len(block.prefix) > len(best[1].prefix)):
            best = (i, block)
    return best


def _unsupported(exc, symbol_path, net):
    """An ExportError naming the layer whose operator mx2onnx cannot convert."""
    match = re.search(r"op type (\S+?) yet", str(exc))
    if not match:
        return None
    op = match.group(1)
    with open(symbol_path, encoding="utf-8") as f:
        nodes = [n for n in json.load(f)["nodes"] if n["op"] == op]
    where = "a layer"
    if nodes:
        found = _layer_of(nodes[0]["name"], net)
        if found:
            where = "layer %d (%s, node %s)" % (found[0], type(found[1]).__name__,
                                                nodes[0]["name"])
        else:
            where = "node %s" % nodes[0]["name"]
    return ExportError("cannot export to ONNX: %s uses the MXNet operator %r, which "
                       "mxnet.onnx (MXNet 1.9.1) has no ONNX conversion for. Replace that layer, "
                       "or export with format 'mxnet' (symbol + params), which takes every layer"
                       % (where, op))


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'fmnist_gluon[onnx]' "
                          "(or pip install -e '.[onnx]' in a clone)") from None
    return onnx


def _drop_initializer_inputs(onnx, path):
    """Remove weights from the graph inputs (mx2onnx lists them there): onnxruntime then
    treats them as constants (no warning per weight, constant folding allowed)."""
    model = onnx.load(path)
    weights = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def export_onnx(net, path, input_shape=DEFAULT_INPUT_SHAPE, opset=None):
    """Write ``net`` as one ONNX file at ``path`` (input ``data``: float32 N x C x H x W with a
    free batch size N; output: logits). Returns ``path``.

    Raises ExportError naming the layer when a layer has no ONNX conversion in MXNet 1.9.1, and
    when the onnx package is missing (``pip install .[onnx]``).
    """
    import mxnet as mx

    onnx = _import_onnx()
    path = str(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    shape = (1,) + tuple(input_shape)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=folder) as tmp:
        symbol, params = _export_to(net, tmp, input_shape)
        out = os.path.join(tmp, "model.onnx")
        kwargs = {} if opset is None else {"opset_version": int(opset)}
        try:
            with warnings.catch_warnings():  # mx2onnx uses onnx.mapping, deprecated in onnx 1.13
                warnings.simplefilter("ignore", DeprecationWarning)
                mx.onnx.export_model(symbol, params, [shape], np.float32, out, dynamic=True,
                                     dynamic_input_shapes=[(None,) + tuple(input_shape)],
                                     **kwargs)
        except AttributeError as exc:
            error = _unsupported(exc, symbol, net)
            if error is None:
                raise
            raise error from None
        _drop_initializer_inputs(onnx, out)
        with atomic_path(path) as part:
            os.replace(out, part)
    return path


def onnx_session(path):
    """An onnxruntime InferenceSession on the CPU for an exported file (warnings silenced)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("running an ONNX file needs onnxruntime: pip install "
                          "'fmnist_gluon[onnx]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predict(path, images):
    """Class probabilities (N x C) from an exported ONNX file for uint8 images (N x 28 x 28 or
    N x 1 x 28 x 28), scaled to [0, 1] as ``fit`` and ``predict`` do."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[:, None]
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    session = onnx_session(path)
    logits = session.run(None, {session.get_inputs()[0].name: x})[0]
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)
