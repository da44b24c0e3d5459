"""Hypothesis strategies for layer specs, and the invariant every spec must satisfy.

Shared by tests/test_fuzz.py (a fast, derandomized profile in CI) and
benchmarks/fuzz_specs.py (N random examples, counted). Layers are generated from
``spec.LAYER_KINDS`` itself, so a layer kind added to the table is fuzzed without a change here.

The invariant (``check_spec``): ``parse_spec``/``build_cnn``/``summary`` either raise a
``SpecError`` that locates the problem (its ``index`` and ``field`` appear in the message and
point into the spec that was given), or give a network whose forward pass on a batch of 1-2
images has exactly the traced output shape, and whose MXNet-side summary (shapes and parameter
counts) equals the one computed from the spec alone. Any other exception is a bug.
"""
import string

import fmnist_gluon  # noqa: F401  (before mxnet: it sets the OpenMP thread defaults)
import mxnet as mx
import numpy as np
from hypothesis import strategies as st

from fmnist_gluon import build_cnn, spec as spec_module, summary
from fmnist_gluon.spec import (ACTIVATION, ANY, FLAT, LAYER_KINDS, MAP, PRESETS, REQUIRED,
                               SHORT_NAMES, SameAs, SpecError, parse_spec, trace_shapes)

# --- field values ---------------------------------------------------------------------------------

HUGE_INTS = [10 ** 9, 2 ** 31 - 1, 2 ** 31, 2 ** 63, 10 ** 30, 10 ** 400]
WRONG_TYPE = st.one_of(
    st.none(), st.booleans(), st.just(float("nan")), st.just(float("inf")), st.just(-float("inf")),
    st.complex_numbers(allow_nan=False, max_magnitude=10), st.binary(max_size=4),
    st.lists(st.integers(0, 4), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.tuples(st.integers(1, 3), st.integers(1, 3)), st.just(object()),
)
NEGATIVE = st.one_of(st.integers(-10 ** 12, -1), st.floats(max_value=-1e-300, allow_nan=False,
                                                           allow_infinity=False))
# Numbers that are valid types but hostile sizes: huge, tiny (float32 subnormal), near 1.
ODD_NUMBERS = st.one_of(
    st.sampled_from(HUGE_INTS), st.just(0), st.just(0.0),
    st.sampled_from([1e-320, 1e-40, 1.2e-38, 3.5e38, 1e308, 0.99999999999, 1 - 1e-17, 0.5, 2.5]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
TEXT = st.one_of(st.text(max_size=8), st.sampled_from(["max", "avg", "MAX", "", " ", "relu",
                                                        "3", "1e3", "\u00e9\u4e2d\U0001f600"]))


def _module_strings():
    """Every string in the spec module's tables (tuples, lists, dict keys and values): the
    vocabulary text fields are checked against (pool kinds, init names, zoo model names...)."""
    found = {}  # ordered: the first valid string of a table is its first entry
    for value in vars(spec_module).values():
        items = list(value) + list(value.values()) if isinstance(value, dict) else value
        if isinstance(items, (tuple, list)):
            found.update(dict.fromkeys(v for v in items if isinstance(v, str)))
    for _, fixed in SHORT_NAMES.values():
        found.update(dict.fromkeys(v for v in fixed.values() if isinstance(v, str)))
    return list(found)


STRINGS = _module_strings()


def _choices(layer_type, name):
    """The strings of the module's tables that this text field accepts (e.g. pool kind: 'avg',
    'max'), found by asking the field's own check: a new field is covered without a change."""
    check = LAYER_KINDS[layer_type].fields[name].value.check
    return [v for v in STRINGS if check(v)]


def plausible(layer_type, name):
    """Values the field's table entry should accept (small sizes, its default, known choices)."""
    field = LAYER_KINDS[layer_type].fields[name]
    options = []
    if field.default != REQUIRED and not isinstance(field.default, SameAs):
        options += [st.just(field.default)] * 2  # defaults half the time: they always fit
    cast = field.value.cast
    if cast is int:
        options.append(st.integers(0, 6).filter(field.value.check))
    elif cast is float:
        options.append(st.floats(0, 0.875, width=32, allow_subnormal=False).filter(field.value.check))
    elif cast is str:
        options += [st.sampled_from(c) for c in [_choices(layer_type, name)] if c]
    return st.one_of(options) if options else st.nothing()


def minimal_layer(layer_type):
    """The layer with every required field at its smallest valid value (ints from 1, floats
    0.5, strings from SHORT_NAMES), the other fields at their defaults."""
    layer = {"type": layer_type}
    for name, field in LAYER_KINDS[layer_type].fields.items():
        if field.default != REQUIRED:
            continue
        value = field.value
        candidates = {int: range(1, 9), float: (0.5, 1.0, 0.1)}.get(value.cast)
        if value.cast is str:
            candidates = _choices(layer_type, name)
        layer[name] = next(v for v in candidates or () if value.check(v))
    return layer


def invalid(layer_type, name):
    """Values that are certainly wrong for the field, whatever its range: a wrong type, NaN,
    infinities, booleans, negative numbers, or (for numeric fields) text."""
    field = LAYER_KINDS[layer_type].fields[name]
    cast = field.value.cast
    options = [WRONG_TYPE]
    if cast in (int, float):
        options += [NEGATIVE, TEXT]
        if cast is int:
            options.append(st.floats(0.1, 100).filter(lambda v: v != int(v)))
    else:
        options += [NEGATIVE, st.integers(0, 9)]
    # None means "the default" for a field whose default is None
    return st.one_of(options).filter(lambda v: not (v is None and field.default is None))


def any_value(layer_type, name):
    """Mostly plausible, often hostile: the mix the random specs are drawn from."""
    p = plausible(layer_type, name)
    return st.one_of(p, p, p, invalid(layer_type, name), ODD_NUMBERS, TEXT)


# --- layers ------------------------------------------------------------------------------------------

def layer_dict(layer_type, values=any_value, hostile=True):
    """One layer dict of ``layer_type``: each field given (``values``) or left out; with
    ``hostile`` also unknown fields, a wrong or missing 'type' and odd activations."""
    kind = LAYER_KINDS[layer_type]

    @st.composite
    def build(draw):
        layer = {"type": layer_type}
        for name, field in kind.fields.items():
            required = field.default == REQUIRED
            if draw(st.booleans()) or (required and not hostile) or (required and draw(st.booleans())):
                layer[name] = draw(values(layer_type, name))
        if kind.takes_activation and draw(st.integers(0, 3)) == 0:
            act = st.sampled_from([t for t, k in LAYER_KINDS.items() if k.role == ACTIVATION])
            layer["activation"] = draw(st.one_of(act, act, st.none(), TEXT, WRONG_TYPE, st.sampled_from(
                ["conv8k3", "lrelu0.1", "dropout0.5"])) if hostile else act)
        if hostile and draw(st.integers(0, 9)) == 0:
            layer[draw(st.one_of(st.text(max_size=6), st.integers(), st.sampled_from(
                ["kernal", "Channels", "act", "activation"])))] = draw(any_value(layer_type, next(
                    iter(kind.fields), None)) if kind.fields else st.integers())
        if hostile and draw(st.integers(0, 14)) == 0:
            choice = draw(st.sampled_from(["drop", "wrong", "unhashable"]))
            if choice == "drop":
                del layer["type"]
            else:
                layer["type"] = draw(st.one_of(TEXT, st.sampled_from(["Conv", "conv2d", "batchnorm"]))
                                     if choice == "wrong" else st.lists(st.text(max_size=2), max_size=2))
        return layer
    return build()


KINDS = sorted(LAYER_KINDS)


def _by_role(*roles):
    return [t for t in KINDS if LAYER_KINDS[t].role in roles]


def any_layer(values=any_value, hostile=True, kinds=KINDS):
    return st.sampled_from(kinds).flatmap(lambda t: layer_dict(t, values, hostile))


# --- shorthand -------------------------------------------------------------------------------------

NAMES = KINDS + sorted(SHORT_NAMES)
NUMBER = st.one_of(st.integers(0, 8).map(str), st.sampled_from(["0.5", ".5", "3.", "1e3", "10" * 12,
                                                               "9" * 5000, "0.0000001", "\u0663"]))


@st.composite
def shorthand_token(draw):
    name = draw(st.one_of(st.sampled_from(NAMES), st.sampled_from(NAMES), st.text(
        alphabet=string.ascii_letters + "_", max_size=5)))
    main = draw(st.one_of(st.just(""), NUMBER))
    pairs = draw(st.lists(st.tuples(st.sampled_from("kspxK"), NUMBER), max_size=3))
    return name + main + "".join(l + n for l, n in pairs)


SHORTHAND = st.one_of(
    st.lists(shorthand_token(), min_size=1, max_size=6).map("-".join),
    st.lists(shorthand_token(), max_size=4).map(" - ".join),
    st.text(max_size=20),
    st.text(alphabet="conv-relupool0123456789kspd. ", max_size=30),
)

# --- whole specs -----------------------------------------------------------------------------------

JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner,
                                                                         max_size=3)),
    max_leaves=8)


@st.composite
def ordered_layers(draw, values=any_value, hostile=True):
    """Feature-map layers, then flat ones (the order that builds): most random specs get far."""
    head = draw(st.lists(any_layer(values, hostile, _by_role(MAP, ANY, ACTIVATION)), max_size=5))
    tail = draw(st.lists(any_layer(values, hostile, _by_role(FLAT, ANY, ACTIVATION)), max_size=3))
    return head + tail


SEED_ITEM = st.lists(st.one_of(st.integers(-1, 6), st.sampled_from(HUGE_INTS), st.floats(0, 1),
                               st.sampled_from(["BN", "bn", "x"]), WRONG_TYPE), max_size=6)
SEED_TUPLES = st.one_of(
    st.tuples(st.lists(SEED_ITEM, max_size=3), st.lists(SEED_ITEM, max_size=3)),
    st.tuples(st.lists(SEED_ITEM, max_size=3), st.lists(SEED_ITEM, max_size=3),
              st.one_of(st.sampled_from(["relu", "leakyrelu", "gelu", "bogus"]), TEXT,
                        st.fixed_dictionaries({"type": TEXT}))),
    st.fixed_dictionaries({"cnnlayers": st.lists(SEED_ITEM, max_size=3),
                           "fclayers": st.lists(SEED_ITEM, max_size=3)},
                          optional={"activation": TEXT, "classes": st.one_of(st.integers(-2, 12), WRONG_TYPE),
                                    "extra": st.integers()}),
)



def weighted(*pairs):
    """A mix of strategies drawn with the given weights ((weight, strategy), ...); one_of alone
    draws its branches about equally."""
    table = [s for w, s in pairs for _ in range(w)]
    return st.integers(0, len(table) - 1).flatmap(lambda k: table[k])


VALID_ORDERED = ordered_layers(values=plausible, hostile=False)
# Kinds that are a whole network on their own (role other than map/flat/any/activation: "zoo").
WHOLE_KINDS = [t for t in KINDS if LAYER_KINDS[t].role not in (MAP, FLAT, ANY, ACTIVATION)]
WHOLE = (st.lists(any_layer(plausible, False, WHOLE_KINDS), min_size=1, max_size=1) if WHOLE_KINDS
         else VALID_ORDERED)
SPECS = weighted((12, VALID_ORDERED), (8, ordered_layers()), (1, WHOLE), (8, st.one_of(
    st.lists(any_layer(), max_size=6),
    st.lists(st.one_of(any_layer(), shorthand_token()), max_size=5),
    SHORTHAND, SHORTHAND,
    SEED_TUPLES,
    ordered_layers().map(lambda layers: {"layers": layers}),
    st.sampled_from(sorted(PRESETS)),
    JSONISH,
)))

INPUT_SHAPES = weighted((6, st.just((1, 28, 28))), (2, st.tuples(st.integers(1, 3), st.integers(1, 12),
                                                                 st.integers(1, 12))), (1,

    st.one_of(st.tuples(st.integers(-1, 2), st.integers(0, 5)), st.tuples(st.integers(0, 3), st.just(28), st.just(28)),
              st.just((1, 28.0, 28)), st.just((True, 28, 28)), st.just("1x28x28"), st.just(None))))
CLASSES = weighted((6, st.just(10)), (2, st.none()), (2, st.integers(-1, 12)), (1, st.sampled_from(
    [10 ** 9, 2.0, True, "10", float("nan")])))

# One valid layer list with exactly one field made certainly invalid: the error must name it.


@st.composite
def one_bad_field(draw):
    """(layers, index, field): a spec that builds, with ``layers[index][field]`` made invalid."""
    layers = draw(ordered_layers(values=plausible, hostile=False))
    candidates = [(i, name) for i, layer in enumerate(layers) for name in LAYER_KINDS[layer["type"]].fields]
    if not candidates:  # no layer with fields: add one conv and break its kernel
        layers.insert(0, {"type": "conv", "channels": 2, "kernel": 1})
        candidates = [(0, "kernel")]
    index, name = draw(st.sampled_from(candidates))
    layers[index][name] = draw(invalid(layers[index]["type"], name))
    return layers, index, name


# --- the invariant ----------------------------------------------------------------------------------

def _raw_length(spec):
    """How many items a spec names, when it is a list of layers or a shorthand string (the
    positions a SpecError's index may point at), else None."""
    if isinstance(spec, dict) and set(spec) == {"layers"}:
        spec = spec["layers"]
    if isinstance(spec, list):
        return len(spec)
    if isinstance(spec, str):
        return len(PRESETS[spec.strip()]) if spec.strip() in PRESETS else len(spec.split("-"))
    return None


def check_error(exc, spec):
    """A SpecError must locate itself: index inside the spec, field and index in the message."""
    assert isinstance(exc, SpecError), "%s is not a SpecError" % type(exc).__name__
    message = str(exc)
    assert message and len(message) < 2000, "message empty or unbounded: %d chars" % len(message)
    if exc.index is not None:
        length = _raw_length(spec)
        assert length is not None and 0 <= exc.index < length, (exc.index, length, message)
        assert ("layer %d" % exc.index) in message or ("position %d" % exc.index) in message, message
    if exc.field is not None:
        assert ("field %r" % (exc.field,)) in message, message


def check_built(spec, classes, input_shape, batch, rng):
    """Build, summarise and run ``spec``; assert the forward pass has the traced shape."""
    layers = parse_spec(spec, input_shape=input_shape, classes=classes)
    traced = trace_shapes(layers, input_shape=input_shape)
    from_spec = summary(spec, input_shape=input_shape, print_fn=None, classes=classes)
    assert from_spec.output_shapes == traced
    # In the spec's own order, layer by layer; build_cnn's default moves max-pools in front of
    # activations (pool_first), which changes the shapes in between but not the output.
    in_order = build_cnn(spec, classes=classes, input_shape=input_shape, pool_first=False)
    from_net = summary(in_order, input_shape=input_shape, print_fn=None)
    assert from_net.output_shapes == traced, (from_net.output_shapes, traced)
    assert from_net.total_params == from_spec.total_params, (from_net.total_params, from_spec.total_params)
    net = build_cnn(spec, classes=classes, input_shape=input_shape)
    assert summary(net, input_shape=input_shape, print_fn=None).total_params == from_spec.total_params
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    x = mx.nd.array(rng.standard_normal((batch,) + tuple(input_shape)), ctx=mx.cpu())
    out = net(x).asnumpy()
    assert out.shape == (batch,) + tuple(traced[-1]), (out.shape, traced[-1])
    # canonical forms read back to the same network
    assert parse_spec(layers, input_shape=input_shape) == layers
    return out


def check_spec(spec, classes=10, input_shape=(1, 28, 28), batch=1, seed=0):
    """'error' when ``spec`` is refused with a well-formed SpecError, 'built' when it builds and
    its forward pass matches the trace; raises AssertionError (or the bug's own exception)."""
    try:
        parse_spec(spec, input_shape=input_shape, classes=classes)
    except SpecError as exc:
        check_error(exc, spec)
        for call in (lambda: build_cnn(spec, classes=classes, input_shape=input_shape),
                     lambda: summary(spec, input_shape=input_shape, print_fn=None, classes=classes)):
            try:
                call()
            except SpecError as again:
                assert str(again) == str(exc), (str(again), str(exc))
            else:
                raise AssertionError("parse_spec refused the spec but build_cnn/summary accepted it")
        return "error"
    check_built(spec, classes, input_shape, batch, np.random.default_rng(seed))
    return "built"
