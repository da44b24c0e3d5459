"""The table of layer kinds: what each field of each layer type is, what input a layer needs,
how it maps an input shape to an output shape, and its parameter and multiply-accumulate counts.

``spec`` validates specs against this table and re-exports its names; ``model.BLOCKS`` has the
matching MXNet constructor of every kind. Adding a layer kind = one entry in ``LAYER_KINDS``
here and one in ``model.BLOCKS``.
"""
import math
from collections import namedtuple

__all__ = ["Value", "Field", "Kind", "SameAs", "REQUIRED", "LAYER_KINDS", "SHORT_NAMES", "ALIASES",
           "ACTIVATIONS", "INIT_NAMES", "ZOO_MODELS", "MAP", "FLAT", "ANY", "ACTIVATION", "NET",
           "ShapeProblem", "prod", "fmt_shape"]


# --- value kinds: how a field is typed and checked ---------------------------------------------

Value = namedtuple("Value", "cast check expected")  # cast in (int, float, str)

POSITIVE_INT = Value(int, lambda v: v >= 1, "a positive int")
NONNEGATIVE_INT = Value(int, lambda v: v >= 0, "an int >= 0")
RATE = Value(float, lambda v: 0.0 <= v < 1.0, "a float in [0, 1)")
NONNEGATIVE_FLOAT = Value(float, lambda v: v >= 0.0, "a float >= 0")
POSITIVE_FLOAT = Value(float, lambda v: v > 0.0, "a float > 0")
POOL_KIND = Value(str, lambda v: v in ("max", "avg"), "'max' or 'avg'")

# Weight initialisers a conv or dense layer may ask for (``"init"``), by their Keras names;
# model.INITIALIZERS builds each one. Without ``"init"`` a layer takes fit's ``init``.
INIT_NAMES = ("he_normal", "he_uniform", "glorot_uniform", "glorot_normal", "lecun_normal")
INIT_NAME = Value(str, lambda v: v in INIT_NAMES, "one of %s" % ", ".join(INIT_NAMES))

# GluonCV model-zoo classifiers a "zoo" layer builds (pretrained=False: no weights are
# downloaded). Each one is built, summarised and trained for a step in tests/test_zoo.py.
ZOO_MODELS = ("mobilenet1.0", "mobilenet0.75", "mobilenet0.5", "mobilenet0.25",
              "mobilenetv2_1.0", "mobilenetv2_0.75", "mobilenetv2_0.5", "mobilenetv2_0.25",
              "mobilenetv3_small", "mobilenetv3_large",
              "cifar_resnet20_v1", "cifar_resnet56_v1", "cifar_resnet110_v1",
              "cifar_resnet20_v2", "cifar_resnet56_v2", "cifar_wideresnet16_10",
              "resnet18_v1", "resnet18_v2")
ZOO_NAME = Value(str, lambda v: v in ZOO_MODELS, "a GluonCV model-zoo name (%s)" % ", ".join(ZOO_MODELS))

REQUIRED = "required"


class SameAs(namedtuple("SameAs", "field")):
    """A default copied from another field of the same layer (pool stride = pool size)."""


# ``added``: a field introduced after specs were first saved (rung folders in docs/results hold
# them). The canonical form leaves it out while it holds its default, so those specs stay
# canonical; a default of None means "not set" and may also be written as an explicit None.
Field = namedtuple("Field", "value default added", defaults=(False,))


class Kind(namedtuple("Kind", "fields role shape params macs main letters takes_activation "
                             "word classifier", defaults=(None, None))):
    """One layer type: its fields (in canonical order), what input it needs (``role``), how it maps
    an input shape to an output shape, its parameter and multiply-accumulate counts, and its
    shorthand (``main`` = field of the leading number, ``letters`` = letter -> field, ``word`` =
    the text field set by an ``@name`` suffix). ``classifier``: the field that must equal
    ``classes`` when the layer ends the network (dense: units). ``params``/``macs`` may return
    None: the count needs MXNet (a model-zoo network) and ``model.summary`` measures it."""


# Roles: what a layer needs as input.
MAP = "map"                # a C x H x W feature map (conv, pool)
FLAT = "flat"              # a flat vector; a flatten is inserted before it when needed (dense)
ANY = "any"                # any shape, unchanged or flattened (bn, dropout, flatten)
ACTIVATION = "activation"  # any shape, unchanged; usable as an "activation" field value
NET = "net"                # a whole network: a C x H x W map in, class scores out (zoo)


class ShapeProblem(Exception):
    """Raised by shape rules; turned into a SpecError carrying the layer's location."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def prod(shape):
    """The number of values in a shape."""
    return math.prod(shape)


def fmt_shape(shape):
    """'64x28x28' for (64, 28, 28)."""
    return "x".join(str(d) for d in shape)


def _window(hw, window, stride, padding, field):
    padded = tuple(d + 2 * padding for d in hw)
    out = tuple((d - window) // stride + 1 for d in padded)
    if min(out) < 1:
        where = "padded input" if padding else "input"
        raise ShapeProblem(field, "%s %d is larger than its %s %s, so the output would collapse to %s "
                              "(expected %s <= %d, got %d); use a smaller %s, more padding, or "
                              "fewer pooling layers before it"
                       % (field, window, where, fmt_shape(padded), fmt_shape(out), field,
                          min(padded), window, field))
    return out


def _conv_shape(e, s):
    groups = e["groups"]
    for what, count in (("input channels", s[0]), ("channels", e["channels"])):
        if count % groups:
            raise ShapeProblem("groups", "%s %d are not divisible by groups %d (expected groups to "
                                     "divide both the input channels %d and channels %d; "
                                     "depthwise: groups = channels = input channels)"
                           % (what, count, groups, s[0], e["channels"]))
    return (e["channels"],) + _window(s[1:], e["kernel"], e["stride"], e["padding"], "kernel")


def _conv_params(e, i, o):
    return e["channels"] * (i[0] // e["groups"] * e["kernel"] ** 2 + 1)


def _conv_macs(e, i, o):
    return prod(o) * i[0] // e["groups"] * e["kernel"] ** 2


def _zoo_shape(e, s):
    if s[0] not in (1, 3):
        raise ShapeProblem("name", "a zoo network takes 1 (grey, tiled to 3) or 3 input channels, got "
                               "%d" % s[0])
    return (e["classes"],)


def _pool_shape(e, s):
    return (s[0],) + _window(s[1:], e["size"], e["stride"], 0, "size")


def _same_shape(e, s):
    return s


def _none(e, i, o):
    return 0


def _activation(main=None, **fields):
    return Kind({name: Field(value, default) for name, (value, default) in fields.items()},
                ACTIVATION, _same_shape, _none, _none, main, {}, False)


# --- the table of layer kinds --------------------------------------------------------------------
# shape(entry, in_shape) -> out_shape; params/macs(entry, in_shape, out_shape) -> int (per image).
LAYER_KINDS = {
    "conv": Kind(
        {"channels": Field(POSITIVE_INT, REQUIRED), "kernel": Field(POSITIVE_INT, REQUIRED),
         "stride": Field(POSITIVE_INT, 1), "padding": Field(NONNEGATIVE_INT, 0),
         "groups": Field(POSITIVE_INT, 1, added=True), "init": Field(INIT_NAME, None, added=True)},
        MAP, _conv_shape, _conv_params, _conv_macs,
        "channels", {"k": "kernel", "s": "stride", "p": "padding", "g": "groups"}, True, "init"),
    "pad": Kind(  # zero padding on every side (LeNet-5's 28x28 -> 32x32)
        {"padding": Field(POSITIVE_INT, REQUIRED)},
        MAP, lambda e, s: (s[0], s[1] + 2 * e["padding"], s[2] + 2 * e["padding"]),
        _none, _none, "padding", {}, False),
    "pool": Kind(
        {"size": Field(POSITIVE_INT, REQUIRED), "stride": Field(POSITIVE_INT, SameAs("size")),
         "kind": Field(POOL_KIND, "max")},
        MAP, _pool_shape, _none, _none, "size", {"s": "stride"}, False),
    "globalpool": Kind(
        {"kind": Field(POOL_KIND, "avg")},
        MAP, lambda e, s: (s[0], 1, 1), _none, _none, None, {}, False),
    "bn": Kind({}, ANY, _same_shape, lambda e, i, o: 4 * i[0], _none, None, {}, True),
    "dropout": Kind({"rate": Field(RATE, REQUIRED)}, ANY, _same_shape, _none, _none, "rate", {}, False),
    "flatten": Kind({}, ANY, lambda e, s: (prod(s),), _none, _none, None, {}, False),
    "dense": Kind(
        {"units": Field(POSITIVE_INT, REQUIRED), "init": Field(INIT_NAME, None, added=True)},
        FLAT, lambda e, s: (e["units"],),
        lambda e, i, o: e["units"] * (i[0] + 1), lambda e, i, o: e["units"] * i[0],
        "units", {}, True, "init", "units"),
    # A GluonCV model-zoo network, classifier included; grey input is tiled to 3 channels and
    # optionally resized (bilinear) to resize x resize inside the network. MXNet counts its
    # parameters and MACs (model.summary).
    "zoo": Kind(
        {"name": Field(ZOO_NAME, REQUIRED), "resize": Field(POSITIVE_INT, None),
         "classes": Field(POSITIVE_INT, 10)},
        NET, _zoo_shape, lambda e, i, o: None, lambda e, i, o: None,
        "resize", {"c": "classes"}, False, "name", "classes"),
    "relu": _activation(),
    "leakyrelu": _activation("alpha", alpha=(NONNEGATIVE_FLOAT, 0.01)),
    "prelu": _activation()._replace(params=lambda e, i, o: 1),  # one learned slope, shared
    "elu": _activation("alpha", alpha=(NONNEGATIVE_FLOAT, 1.0)),
    "selu": _activation(),
    "gelu": _activation(),
    "swish": _activation("beta", beta=(POSITIVE_FLOAT, 1.0)),
    "sigmoid": _activation(),
    "tanh": _activation(),
    "softrelu": _activation(),
    "softsign": _activation(),
}

# Shorthand names beyond the type names: name -> (type, fields it fixes).
SHORT_NAMES = {
    "drop": ("dropout", {}),
    "lrelu": ("leakyrelu", {}),
    "fc": ("dense", {}),
    "maxpool": ("pool", {"kind": "max"}),
    "avgpool": ("pool", {"kind": "avg"}),
    "gap": ("globalpool", {"kind": "avg"}),
    "gmp": ("globalpool", {"kind": "max"}),
}

# Names people reach for, used only to suggest the right one (one obvious way to write a spec).
ALIASES = {"conv2d": "conv", "convolution": "conv", "batchnorm": "bn", "batch_norm": "bn",
           "linear": "dense", "fc": "dense", "fullyconnected": "dense", "maxpool": "pool",
           "avgpool": "pool", "maxpool2d": "pool", "avgpool2d": "pool", "gap": "globalpool",
           "globalavgpool": "globalpool", "globalmaxpool": "globalpool", "leaky_relu": "leakyrelu",
           "leaky": "leakyrelu", "lrelu": "leakyrelu", "drop": "dropout", "silu": "swish",
           "softplus": "softrelu", "zeropad": "pad", "zeropadding2d": "pad", "padding": "pad",
           "model": "zoo", "gluoncv": "zoo", "model_zoo": "zoo"}

ACTIVATIONS = tuple(t for t, k in LAYER_KINDS.items() if k.role == ACTIVATION)
