"""Networks from specs: ``build_cnn`` turns a layer spec into a Gluon HybridSequential, and
``summary`` prints each layer's output shape, parameters and multiply-accumulates.

Every layer type of ``spec.LAYER_KINDS`` has one constructor in ``BLOCKS`` below; adding a layer
kind means one entry there and one here.
"""
import json
import math
from collections import namedtuple

import mxnet as mx
from mxnet.gluon import nn

from .spec import (DEFAULT_INPUT_SHAPE, SpecError, check_input_shape, layer_token, layer_cost, parse_spec, plan,
                   pool_before_activation)
from .zoo import ZooNet

__all__ = ["build_cnn", "summary", "Summary", "BLOCKS", "INITIALIZERS", "ZeroPad"]

# A layer's own weight initialiser (spec field "init", Keras names; spec.INIT_NAMES). It is the
# block's weight_initializer, which fit's global init does not override (Parameter.initialize
# uses a parameter's own init before the default). MXNet's Xavier: uniform on +-sqrt(m / n) or
# normal with sd sqrt(m / n), n = fan in ("in") or the mean of fan in and fan out ("avg").
INITIALIZERS = {
    "he_normal": lambda: mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2),
    "he_uniform": lambda: mx.init.Xavier(rnd_type="uniform", factor_type="in", magnitude=6),
    "glorot_uniform": lambda: mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3),
    "glorot_normal": lambda: mx.init.Xavier(rnd_type="gaussian", factor_type="avg", magnitude=1),
    "lecun_normal": lambda: mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=1),
}


def _init(entry):
    return INITIALIZERS[entry["init"]]() if entry["init"] else None


class ZeroPad(nn.HybridBlock):
    """Zero padding of ``padding`` pixels on every side of an N x C x H x W batch."""

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding

    def hybrid_forward(self, F, x):
        p = self.padding
        return F.pad(x, mode="constant", pad_width=(0, 0, 0, 0, p, p, p, p), constant_value=0)

    def __repr__(self):
        return "ZeroPad(%d)" % self.padding


# type -> constructor(entry, in_shape). in_shape (per image) lets every block know its input size,
# so parameters have shapes as soon as the network is initialized (no deferred initialization).
BLOCKS = {
    "conv": lambda e, s: nn.Conv2D(e["channels"], e["kernel"], strides=e["stride"],
                                   padding=e["padding"], groups=e["groups"], in_channels=s[0],
                                   weight_initializer=_init(e)),
    "pad": lambda e, s: ZeroPad(e["padding"]),
    "pool": lambda e, s: (nn.MaxPool2D if e["kind"] == "max" else nn.AvgPool2D)(e["size"], e["stride"]),
    "globalpool": lambda e, s: nn.GlobalMaxPool2D() if e["kind"] == "max" else nn.GlobalAvgPool2D(),
    "bn": lambda e, s: nn.BatchNorm(in_channels=s[0]),
    "dropout": lambda e, s: nn.Dropout(e["rate"]),
    "flatten": lambda e, s: nn.Flatten(),
    "dense": lambda e, s: nn.Dense(e["units"], in_units=s[0], weight_initializer=_init(e)),
    "zoo": lambda e, s: ZooNet(e["name"], e["classes"], e["resize"], in_channels=s[0]),
    "relu": lambda e, s: nn.Activation("relu"),
    "leakyrelu": lambda e, s: nn.LeakyReLU(e["alpha"]),
    "prelu": lambda e, s: nn.PReLU(),
    "elu": lambda e, s: nn.ELU(e["alpha"]),
    "selu": lambda e, s: nn.SELU(),
    "gelu": lambda e, s: nn.GELU(),
    "swish": lambda e, s: nn.Swish(e["beta"]),
    "sigmoid": lambda e, s: nn.Activation("sigmoid"),
    "tanh": lambda e, s: nn.Activation("tanh"),
    "softrelu": lambda e, s: nn.Activation("softrelu"),
    "softsign": lambda e, s: nn.Activation("softsign"),
}


def build_cnn(spec, classes=10, input_shape=DEFAULT_INPUT_SHAPE, pool_first=True):
    """Build an uninitialized ``nn.HybridSequential`` from ``spec`` (any form ``parse_spec``
    accepts: layer list, JSON/YAML path, shorthand, preset name, seed tuples).

    When the spec does not end in a dense layer, ``dense(classes)`` is appended as the classifier
    (``classes=None``: nothing is appended). The spec is validated for ``input_shape`` (channels,
    height, width) and every block is told its input size. Initialize before use, e.g.
    ``net.initialize(mx.init.Xavier())``.

    ``pool_first=True`` (the default) builds the layers in ``pool_before_activation`` order:
    a max-pool that follows a non-decreasing activation (relu, leakyrelu, elu, ...) comes before
    it. The network computes the same function, forward and backward, and an epoch of the seed's
    baseline is faster (docs/performance.md). Only parameter-free layers trade places, so the
    parameterised layers keep their positions and a checkpoint saved from either order loads
    into the other. ``pool_first=False`` builds the layers exactly in the order written (then
    ``net[i]`` is layer ``i`` of ``parse_spec(spec)``).
    """
    layers = parse_spec(spec, input_shape, classes)  # errors name the layers as written
    if pool_first:
        layers = pool_before_activation(layers, input_shape)
    layers, inputs, _ = plan(layers, input_shape)
    net = nn.HybridSequential()
    with net.name_scope():
        for entry, in_shape in zip(layers, inputs):
            net.add(BLOCKS[entry["type"]](entry, in_shape))
    return net


Row = namedtuple("Row", "index layer output_shape params macs")


class Summary:
    """A per-layer table: ``rows`` (index, layer, output_shape, params, macs), ``total_params``,
    ``total_macs`` and ``input_shape``; ``str(summary)`` is the printed table."""

    def __init__(self, rows, input_shape):
        self.rows = list(rows)
        self.input_shape = tuple(input_shape)
        self.total_params = sum(r.params for r in self.rows)
        self.total_macs = sum(r.macs for r in self.rows)

    @property
    def output_shapes(self):
        return [r.output_shape for r in self.rows]

    def __str__(self):
        shape = lambda s: "x".join(map(str, s))
        table = [("#", "layer", "output", "params", "MACs")]
        table += [(str(r.index), r.layer, shape(r.output_shape), "{:,}".format(r.params),
                   "{:,}".format(r.macs)) for r in self.rows]
        table.append(("", "total (input %s)" % shape(self.input_shape), "",
                      "{:,}".format(self.total_params), "{:,}".format(self.total_macs)))
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        lines = ["  ".join(cell.rjust(w) if i in (0, 3, 4) else cell.ljust(w)
                           for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in table]
        rule = "-" * len(max(lines, key=len))
        return "\n".join([lines[0], rule] + lines[1:-1] + [rule, lines[-1]])

    def __repr__(self):
        return "<Summary: %d layers, %s params, %s MACs per image>" % (
            len(self.rows), "{:,}".format(self.total_params), "{:,}".format(self.total_macs))


def _spec_rows(spec, classes, input_shape):
    layers, inputs, outputs = plan(spec, input_shape, classes)
    for i, (entry, in_shape, out_shape) in enumerate(zip(layers, inputs, outputs)):
        params, macs = layer_cost(entry, in_shape, out_shape)
        if params is None or macs is None:  # a zoo network: MXNet counts it
            block = BLOCKS[entry["type"]](entry, in_shape)
            params, macs = _block_params(block, in_shape), block_macs(block, in_shape)
        yield Row(i, _row_name(entry), out_shape, params, macs)


def _row_name(entry):
    """The layer's shorthand token, or its canonical dict where it has no shorthand (a zoo layer
    with classes but no resize, say)."""
    try:
        return layer_token(entry)
    except SpecError:
        return json.dumps(entry)


def _block_params(block, in_shape):
    """Parameters of ``block`` (initialized or not) by shape inference on a 1 x in_shape input."""
    sym = block(mx.sym.var("data"))
    arg_shapes, _, aux_shapes = sym.infer_shape(data=(1,) + tuple(in_shape))
    sizes = dict(zip(sym.list_arguments() + sym.list_auxiliary_states(), arg_shapes + aux_shapes))
    return sum(math.prod(sizes.get(p.name, p.shape)) for p in block.collect_params().values())


def block_macs(block, in_shape):
    """Multiply-accumulates per image of any hybrid block: every convolution (grouped ones
    included: its weight holds in_channels / groups inputs per output) and fully connected
    layer inside it, found by walking its symbol: weight size x output positions."""
    sym = block(mx.sym.var("data"))
    internals = sym.get_internals()
    arg_shapes, out_shapes, _ = internals.infer_shape(data=(1,) + tuple(in_shape))
    args = dict(zip(internals.list_arguments(), arg_shapes))
    outs = dict(zip(internals.list_outputs(), out_shapes))
    nodes = json.loads(sym.tojson())["nodes"]
    macs = 0
    for node in nodes:
        if node["op"] in ("Convolution", "FullyConnected"):
            weight = args[nodes[node["inputs"][1][0]]["name"]]
            macs += math.prod(weight) * math.prod(outs[node["name"] + "_output"][2:])
    return macs


def _block_name(block):
    name = type(block).__name__
    if isinstance(block, ZooNet):
        return "ZooNet(%s)" % block.zoo_name
    act = getattr(block, "_act_type", None)
    return "%s(%s)" % (name, act) if isinstance(act, str) else name


def _leaves(block):
    """The blocks of a HybridSequential, nested ones expanded; any other block is one leaf."""
    if isinstance(block, nn.HybridSequential):
        for child in block:
            yield from _leaves(child)
    else:
        yield block


def _net_rows(net, input_shape):
    """Shapes by symbolic inference (no initialization or forward pass needed), parameter
    counts from each block's parameters, MACs for Conv2D/Dense from weight size x positions."""
    children = list(_leaves(net))
    x = mx.sym.var("data")
    outputs = []
    for block in children:
        if not isinstance(block, nn.HybridBlock):
            raise TypeError("summary needs hybrid blocks; %s is a %s" % (_block_name(block), type(block)))
        x = block(x)
        outputs.append(x)
    grouped = mx.sym.Group(outputs)
    arg_shapes, out_shapes, aux_shapes = grouped.infer_shape(data=(1,) + tuple(input_shape))
    sizes = dict(zip(grouped.list_arguments() + grouped.list_auxiliary_states(), arg_shapes + aux_shapes))
    for i, (block, out) in enumerate(zip(children, out_shapes)):
        params = sum(math.prod(sizes.get(p.name, p.shape)) for p in block.collect_params().values())
        in_shape = tuple(input_shape) if i == 0 else tuple(out_shapes[i - 1][1:])
        macs = block_macs(block, in_shape) if block.collect_params() else 0
        yield Row(i, _block_name(block), tuple(out[1:]), params, macs)


def summary(spec_or_net, input_shape=DEFAULT_INPUT_SHAPE, print_fn=print, classes=10):
    """Print and return a ``Summary``: each layer, its output shape, parameters and
    multiply-accumulates (MACs) per image, with totals.

    ``spec_or_net``: a spec in any ``parse_spec`` form (computed from the shape trace, without
    MXNet; ``classes`` appends the classifier as ``build_cnn`` does) or a Gluon network (an
    ``nn.HybridSequential`` gives one row per child, nested ones expanded; shapes come from MXNet's
    shape inference, so it need not be initialized).
    Parameters are everything ``collect_params()`` holds, BatchNorm's running mean and variance
    included. MACs: conv = out_h*out_w*out_channels*kernel*kernel*in_channels, dense =
    in_features*units; every other layer counts 0 (bias additions, pooling, normalization and
    activations are not multiply-accumulates). ``print_fn=None`` prints nothing.
    """
    input_shape = check_input_shape(input_shape)
    if isinstance(spec_or_net, mx.gluon.Block):
        rows = list(_net_rows(spec_or_net, input_shape))
    else:
        rows = list(_spec_rows(spec_or_net, classes, input_shape))
    result = Summary(rows, input_shape)
    if print_fn is not None:
        print_fn(str(result))
    return result
