"""Layer specs: what a network is, before any MXNet object exists.

A spec is a list of layers. Its *canonical form* is a list of dicts, each with a ``"type"``
and every field of that type filled in (defaults included), e.g. the seed's baseline::

    [{"type": "conv", "channels": 64, "kernel": 3, "stride": 1, "padding": 1},
     {"type": "relu"},
     {"type": "pool", "size": 2, "stride": 2, "kind": "max"},
     ...,
     {"type": "flatten"},
     {"type": "dense", "units": 256},
     ...]

Activations are layers of their own, so BatchNorm can sit between a layer and its activation.
``parse_spec`` turns every accepted form into that canonical list and validates it:

- a list of dicts (fields may be omitted when they have a default; ``"activation"`` on conv, dense
  and bn is a convenience that becomes a separate activation layer; a list item may also be one
  shorthand token such as ``"conv64k3p1"``);
- a path to a ``.json``, ``.yaml`` or ``.yml`` file holding any of these forms (YAML is read with
  ``yaml.SafeLoader``, refusing alias bombs and recursive aliases; files over
  ``MAX_SPEC_FILE_BYTES`` are refused unread); a file may also hold ``{"layers": [...]}``;
- a shorthand string (below);
- a preset name (``PRESETS``: the seed's ladder networks, its "next steps", the recipes and
  the other published systems of ``SEED_SYSTEMS``);
- a single ``{"type": "zoo", ...}`` dict: a GluonCV model-zoo network (``fmnist_gluon.zoo``);
- the seed notebook's tuple form ``(cnnlayers, fclayers[, activation])`` or a dict with those keys
  (see ``from_seed_tuples``).

Shorthand grammar (case-insensitive, blanks around ``-`` ignored)::

    spec   := token ("-" token)*
    token  := name [number (letter number)*] ["@" word]
    number := digits ["." digits] | "." digits

``name`` is a layer type (``conv pad pool globalpool bn dropout flatten dense zoo relu leakyrelu
prelu elu selu gelu swish sigmoid tanh softrelu softsign``) or a short name (``drop`` = dropout,
``lrelu`` = leakyrelu, ``fc`` = dense, ``maxpool``/``avgpool`` = pool of that kind, ``gap``/``gmp``
= global average/max pool). The first number is the type's main field (conv: channels, pool: size,
dropout: rate, dense: units, leakyrelu/elu: alpha, swish: beta, pad: padding, zoo: resize);
letter-number pairs set the others (conv: ``k`` kernel, ``s`` stride, ``p`` padding, ``g``
groups; pool: ``s`` stride; zoo: ``c`` classes); ``@word`` sets a text field (conv/dense:
``init`` such as ``@he_normal``; zoo: the model name, ``zoo56@mobilenet1.0``). The seed baseline::

    conv64k3p1-relu-pool2-conv64k3-relu-pool2-dense256-relu-dense64-relu-dense10

Structure rules applied by ``parse_spec``: a ``flatten`` is inserted before the first dense layer
when none precedes it; with ``classes`` given and a last layer that is not dense, a
``dense(classes)`` classifier is appended (a last dense layer with other units is an error).
Validation happens here, once, before MXNet is touched: every problem raises ``SpecError``
naming the layer, its type and field, what was expected and what was given. A shape trace over
``input_shape`` (channels, height, width) rejects kernels or pools larger than their input, and
a network above ``MAX_PARAMS`` parameters or ``MAX_ACTIVATIONS`` output values per image is
refused before anything is allocated (docs/reliability.md).

Adding a layer kind = one entry in ``layers.LAYER_KINDS`` (re-exported here) and one in
``model.BLOCKS``.
"""
import copy
import json
import math
import numbers
import os
import struct
from collections.abc import Mapping

from .shorthand import SEED_SHORTHAND, layer_token, parse_shorthand, parse_token
from .specerrors import SpecError, clip as _clip, layer_error as _fail, show as _show
from .specfile import SpecFileError, looks_like_path, read_spec_file
from .validation import did_you_mean as _did_you_mean

__all__ = ["SpecError", "parse_spec", "trace_shapes", "from_seed_tuples", "seed_spec",
           "spec_to_json", "spec_to_shorthand", "pool_before_activation", "LAYER_KINDS",
           "PRESETS", "SEED_SYSTEMS", "ZOO_MODELS", "INIT_NAMES", "MAX_PARAMS", "MAX_ACTIVATIONS",
           "MAX_SPEC_FILE_BYTES", "MAX_YAML_NODES", "check_value"]

DEFAULT_INPUT_SHAPE = (1, 28, 28)

# --- ceilings: refuse what cannot be meant before anything is allocated (docs/reliability.md) ----
# Read at call time, so ``fmnist_gluon.spec.MAX_PARAMS = ...`` raises a ceiling for a session.
MAX_PARAMS = 100_000_000        # parameters of the whole network: 400 MB of float32 weights
                                # (57x the largest preset, "best": 1.74 M)
MAX_ACTIVATIONS = 2 ** 25       # values of all layer outputs for one image: 128 MiB of float32
                                # (69x "best": 0.48 M); keeps a batch of 64 under MXNet's 2**31
                                # elements per tensor
MAX_INT = 2 ** 31 - 1           # MXNet keeps layer sizes (channels, kernel, stride...) as int32
FLOAT32_MAX = 3.4028234663852886e38    # MXNet keeps float fields (alpha, rate) as float32:
FLOAT32_TINY = 1.1754943508222875e-38  # nonzero magnitudes in [TINY, MAX] only
MAX_SPEC_FILE_BYTES = 1 << 20   # a spec file larger than 1 MiB (~10,000 layers) is refused unread
MAX_YAML_NODES = 100_000        # YAML nodes after expanding aliases (refuses "billion laughs")


# The preset networks by name; fmnist_gluon/presets.py (imported at the end) fills it.
PRESETS = {}


from .layers import (ACTIVATION, ACTIVATIONS, ALIASES, ANY, FLAT, INIT_NAME, INIT_NAMES,  # noqa: E402,F401
                     LAYER_KINDS, MAP, NET, POSITIVE_INT, RATE, REQUIRED, SHORT_NAMES, ZOO_MODELS,
                     Field, Kind, SameAs, ShapeProblem, Value, fmt_shape, prod)





# --- one layer: fields, types, defaults -----------------------------------------------------------

def _coerce(value, spec_value):
    """Return ``value`` cast to the field's type, or raise ValueError with the expectation."""
    cast, check, expected = spec_value
    if isinstance(value, bool) and cast is not str:
        raise ValueError("expected %s, got %s; booleans are not numbers here" % (expected, _show(value)))
    ok_type = {int: numbers.Integral, float: numbers.Real, str: str}[cast]
    if not isinstance(value, ok_type):
        raise ValueError("expected %s, got %s" % (expected, _show(value)))
    try:
        value = cast(value)
    except OverflowError:  # an int too large for a float
        raise ValueError("expected %s, got %s: too large" % (expected, _show(value))) from None
    if (cast is float and not math.isfinite(value)) or not check(value):
        raise ValueError("expected %s, got %s" % (expected, _show(value)))
    if cast is int and value > MAX_INT:
        raise ValueError("expected %s of at most 2**31 - 1 = %d (MXNet stores layer sizes as "
                         "32-bit ints), got %s" % (expected, MAX_INT, _show(value)))
    if cast is float and value and not FLOAT32_TINY <= abs(value) <= FLOAT32_MAX:
        raise ValueError("expected %s, and 0 or a magnitude between %.4g and %.4g (MXNet stores it "
                         "as a float32), got %s" % (expected, FLOAT32_TINY, FLOAT32_MAX, _show(value)))
    if cast is float and not check(struct.unpack("f", struct.pack("f", value))[0]):
        raise ValueError("expected %s, got %s, which is %r as the float32 MXNet uses"
                         % (expected, _show(value), struct.unpack("f", struct.pack("f", value))[0]))
    return value


def check_value(value, value_spec, name):
    """``value`` checked and cast as a layer field of type ``value_spec`` (e.g.
    ``layers.RATE``) is, or a SpecError naming ``name``: the check other modules share."""
    try:
        return _coerce(value, value_spec)
    except ValueError as exc:
        raise SpecError("%s: %s" % (name, exc)) from None


def _normalize(raw, where, index=None):
    """Check one layer given as a dict (or a shorthand token); return its canonical dict(s)."""
    if isinstance(raw, str):
        raw = parse_token(raw, where, index, PRESETS)
        where = "%s (%s)" % (where, _clip(raw.pop("_token")))
    if not isinstance(raw, Mapping):
        raise _fail(where, None, None, "expected a dict like {'type': 'conv', 'channels': 64, "
                    "'kernel': 3} or a shorthand token like 'conv64k3', got %s" % _show(raw), index)
    if "type" not in raw:
        raise _fail(where, None, None, "missing 'type'; expected one of %s, got a dict with keys %s"
                    % (", ".join(LAYER_KINDS), sorted(map(str, raw))), index)
    layer_type = raw["type"]
    if not isinstance(layer_type, str) or layer_type not in LAYER_KINDS:
        raise _fail(where, None, "type", "unknown layer type %s%s (known types: %s)"
                    % (_show(layer_type), _did_you_mean(layer_type, LAYER_KINDS, ALIASES),
                       ", ".join(LAYER_KINDS)), index)
    kind = LAYER_KINDS[layer_type]
    known = list(kind.fields) + (["activation"] if kind.takes_activation else [])
    for name in raw:
        if name != "type" and name not in known:
            raise _fail(where, layer_type, name, "unknown field%s (fields of %s: %s)"
                        % (_did_you_mean(name, known), layer_type, ", ".join(known) or "none"), index)
    entry = {"type": layer_type}
    for name, field in kind.fields.items():
        if name in raw and not (raw[name] is None and field.default is None):
            try:
                entry[name] = _coerce(raw[name], field.value)
            except ValueError as exc:
                raise _fail(where, layer_type, name, str(exc), index) from None
        elif field.default == REQUIRED:
            raise _fail(where, layer_type, name, "missing; expected %s" % field.value.expected, index)
        elif isinstance(field.default, SameAs):
            entry[name] = entry[field.default.field]
        else:
            entry[name] = field.default
    entries = [entry]
    if raw.get("activation") is not None:
        try:
            where_act = "%s (%s) activation" % (where, layer_type)
            entries.append(_activation_entry(raw["activation"], where_act, index))
        except _NotActivation as exc:
            raise _fail(where, layer_type, "activation", str(exc), index) from None
    return entries


class _NotActivation(Exception):
    pass


def _activation_entry(raw, where, index=None):
    """One canonical activation layer from a name ('relu', 'lrelu0.1') or dict."""
    entries = _normalize(raw, where, index)
    if len(entries) != 1 or LAYER_KINDS[entries[0]["type"]].role != ACTIVATION:
        raise _NotActivation("expected an activation (%s), got %s"
                             % (", ".join(ACTIVATIONS), _show(raw)))
    return entries[0]


# --- whole specs ----------------------------------------------------------------------------------

def _is_seed_tuples(data):
    if not isinstance(data, (list, tuple)) or len(data) not in (2, 3):
        return False
    parts_ok = all(isinstance(part, (list, tuple)) and all(isinstance(i, (list, tuple)) for i in part)
                   for part in data[:2])
    return parts_ok and (len(data) == 2 or isinstance(data[2], (str, Mapping)))


_FORMS = ("a list of layer dicts, a preset name (%s), a path to a .json/.yaml/.yml file, a shorthand "
          "string like 'conv64k3p1-relu-pool2-dense10', or the seed tuple form (cnnlayers, fclayers)")


def _load_file(path):
    """The data in a spec file (fmnist_gluon.specfile, with this module's ceilings)."""
    try:
        return read_spec_file(path, _FORMS % ", ".join(PRESETS), MAX_SPEC_FILE_BYTES,
                              MAX_YAML_NODES)
    except SpecFileError as exc:
        raise SpecError(str(exc)) from None


def _raw_layers(spec, from_file=False):
    """Any accepted form -> list of raw layers (dicts or shorthand tokens), not yet checked."""
    if isinstance(spec, os.PathLike) and not from_file:
        return _raw_layers(_load_file(os.fspath(spec)), from_file=True)
    if isinstance(spec, str):
        text = spec.strip()
        if text in PRESETS:
            return copy.deepcopy(PRESETS[text])
        if not from_file and looks_like_path(text):
            return _raw_layers(_load_file(text), from_file=True)
        return parse_shorthand(text)
    if isinstance(spec, Mapping):
        if "cnnlayers" in spec or "fclayers" in spec:
            return _seed_dict(spec)
        if set(spec) == {"layers"}:
            return _raw_layers(spec["layers"], from_file=True)
        kind = LAYER_KINDS.get(spec.get("type")) if isinstance(spec.get("type"), str) else None
        if kind is not None and kind.role == NET:  # a whole network: {"type": "zoo", ...}
            return [dict(spec)]
        if "type" in spec:
            raise SpecError("expected a list of layers, got a single layer dict %s; wrap it in a "
                            "list: [{...}]" % _show(dict(spec)))
        raise SpecError("expected %s, or a dict with key 'layers' or keys 'cnnlayers'/'fclayers'; "
                        "got a dict with keys %s" % (_FORMS % ", ".join(PRESETS), sorted(map(str, spec))))
    if _is_seed_tuples(spec):
        return from_seed_tuples(*spec)
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise SpecError("the spec is empty; expected at least one layer, e.g. %r" % SEED_SHORTHAND)
        return list(spec)
    raise SpecError("expected %s; got %s" % (_FORMS % ", ".join(PRESETS), _show(spec)))


def _structure(located, classes):
    """Insert the flatten before the first dense, reject spatial layers on flat input, add the
    classifier. ``located`` is a list of (where, index, entry)."""
    out, flat = [], False
    for where, index, entry in located:
        role = LAYER_KINDS[entry["type"]].role
        if role in (MAP, NET) and flat:
            raise _fail(where, entry["type"], None, "expected a C x H x W feature map, but its input "
                        "is already flat (after a flatten/dense layer); put conv and pool layers "
                        "before the first flatten/dense", index)
        if role == FLAT and not flat:
            out.append(("the flatten inserted before " + where, index, {"type": "flatten"}))
        flat = flat or role in (FLAT, NET) or entry["type"] == "flatten"
        out.append((where, index, entry))
    if not out:
        raise SpecError("the spec is empty; expected at least one layer, e.g. %r" % SEED_SHORTHAND)
    if classes is not None:
        where, index, last = out[-1]
        field = LAYER_KINDS[last["type"]].classifier
        if field is None:
            if not flat:
                out.append(("the flatten inserted before the classifier", None, {"type": "flatten"}))
            out.append(("the classifier", None, {"type": "dense", "units": classes,
                                                 "init": None}))
        elif last[field] != classes:
            named = field if field == "classes" else field + " == classes"
            raise _fail(where, last["type"], field, "the last %s layer is the classifier: expected "
                        "%s == %d, got %d (end the spec with a non-%s layer to get dense(%d) "
                        "appended)" % (last["type"], named, classes, last[field], last["type"],
                                       classes), index)
    return out


def _trace(located, input_shape):
    """Output shape of every layer, checking that no window is larger than its input."""
    shapes, shape = [], tuple(input_shape)
    for where, index, entry in located:
        try:
            shape = tuple(LAYER_KINDS[entry["type"]].shape(entry, shape))
        except ShapeProblem as problem:
            raise _fail(where, entry["type"], problem.field, "%s (input shape %s)"
                        % (problem, fmt_shape(input_shape)), index) from None
        shapes.append(shape)
    return shapes


def _check_budget(located, input_shape, outputs):
    """Refuse a network above MAX_PARAMS parameters or MAX_ACTIVATIONS output values per image,
    naming the layer that crosses the ceiling; runs on the trace, before MXNet allocates."""
    params = activations = 0
    for (where, index, entry), in_shape, out_shape in zip(located, [input_shape] + outputs, outputs):
        own = LAYER_KINDS[entry["type"]].params(entry, in_shape, out_shape) or 0  # zoo: counted by MXNet
        params += own
        activations += prod(out_shape)
        if params > MAX_PARAMS:
            raise _fail(where, entry["type"], None, "the network reaches {:,} parameters here (this "
                        "layer holds {:,}), above the ceiling MAX_PARAMS = {:,}; use fewer channels or "
                        "units, or raise fmnist_gluon.spec.MAX_PARAMS if you mean it"
                        .format(params, own, MAX_PARAMS), index)
        if activations > MAX_ACTIVATIONS:
            raise _fail(where, entry["type"], None, "the layer outputs reach {:,} values per image "
                        "here (this layer's output {} = {:,}), above the ceiling MAX_ACTIVATIONS = "
                        "{:,}; use less padding, fewer channels or more pooling, or raise "
                        "fmnist_gluon.spec.MAX_ACTIVATIONS if you mean it"
                        .format(activations, fmt_shape(out_shape), prod(out_shape), MAX_ACTIVATIONS),
                        index)


def check_input_shape(input_shape):
    ok = (isinstance(input_shape, (list, tuple)) and len(input_shape) == 3
          and all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1
                  for d in input_shape))
    if not ok:
        raise SpecError("input_shape: expected (channels, height, width) of positive ints such as "
                        "(1, 28, 28), got %s" % _show(input_shape))
    return tuple(int(d) for d in input_shape)


def _check_classes(classes):
    if classes is None:
        return None
    try:
        return _coerce(classes, POSITIVE_INT)
    except ValueError as exc:
        raise SpecError("classes: %s (or None for no classifier)" % exc) from None


def _located(spec, classes):
    raw = _raw_layers(spec)
    located = []
    for i, layer in enumerate(raw):
        located += [("layer %d" % i, i, e) for e in _normalize(layer, "layer %d" % i, i)]
    return _structure(located, classes)


def plan(spec, input_shape=DEFAULT_INPUT_SHAPE, classes=None):
    """(canonical layers, input shape of each, output shape of each): what ``parse_spec``,
    ``trace_shapes``, ``build_cnn`` and ``summary`` share."""
    input_shape = check_input_shape(input_shape)
    try:
        located = _located(spec, _check_classes(classes))
        outputs = _trace(located, input_shape)
        _check_budget(located, input_shape, outputs)
    except SpecError as exc:
        path = _file_of(spec)
        if path is None or path in str(exc):
            raise
        raise SpecError("%s (in spec file %r)" % (exc, path), exc.index, exc.layer_type, exc.field) from None
    return [entry for _, _, entry in located], [input_shape] + outputs[:-1], outputs


def _file_of(spec):
    """The path ``spec`` names when it is a spec file, else None (so errors can name the file)."""
    if isinstance(spec, os.PathLike):
        return os.fspath(spec)
    if isinstance(spec, str) and spec.strip() not in PRESETS and looks_like_path(spec.strip()):
        return spec.strip()
    return None


def _compact(entry):
    """The canonical dict of a filled-in layer: added fields holding their default left out."""
    fields = LAYER_KINDS[entry["type"]].fields
    return {k: v for k, v in entry.items()
            if k == "type" or not (fields[k].added and v == fields[k].default)}


def parse_spec(spec, input_shape=DEFAULT_INPUT_SHAPE, classes=None):
    """Validate ``spec`` in any accepted form and return its canonical list of layer dicts.

    ``classes`` (int or None): when given and the spec does not end in a dense layer, a
    ``dense(classes)`` classifier is appended. The shapes are traced over ``input_shape``
    (channels, height, width). Raises SpecError naming the layer, type and field at fault.
    Every field is filled in, except fields added later (conv ``groups``, conv/dense ``init``)
    while they hold their default.
    """
    return [_compact(entry) for entry in plan(spec, input_shape, classes)[0]]


def trace_shapes(spec, input_shape=DEFAULT_INPUT_SHAPE):
    """Output shape (per image, without the batch axis) of every layer of ``parse_spec(spec)``."""
    return plan(spec, input_shape)[2]


def layer_cost(entry, in_shape, out_shape):
    """(parameters, multiply-accumulates per image) of one canonical layer."""
    kind = LAYER_KINDS[entry["type"]]
    return kind.params(entry, in_shape, out_shape), kind.macs(entry, in_shape, out_shape)


def spec_to_json(spec, input_shape=DEFAULT_INPUT_SHAPE):
    """The canonical JSON text of ``spec``, one layer per line; ``parse_spec`` reads it back."""
    layers = parse_spec(spec, input_shape)
    return "[\n" + ",\n".join("  " + json.dumps(layer) for layer in layers) + "\n]"


def spec_to_shorthand(spec, input_shape=DEFAULT_INPUT_SHAPE):
    """The shorthand string of ``spec`` (canonical layers, defaults left out)."""
    return "-".join(layer_token(layer) for layer in plan(spec, input_shape)[0])


# Activations that never decrease: max(f(a), f(b)) == f(max(a, b)), so a max-pool commutes with
# them (leakyrelu and elu only allow alpha >= 0, which keeps them non-decreasing).
NON_DECREASING = ("relu", "leakyrelu", "elu", "selu", "sigmoid", "tanh", "softrelu", "softsign")


def pool_before_activation(spec, input_shape=DEFAULT_INPUT_SHAPE):
    """``spec`` (canonical list) with every max-pool that directly follows a non-decreasing
    activation moved in front of it.

    The network computes exactly the same function, forward and backward, but the activation
    then runs on the pooled map (a quarter of the size after a 2x2 pool). On the seed's baseline
    this makes a training epoch about 9% faster (docs/performance.md); the fast recipe is written
    in this order. GELU and swish dip below zero and are left alone.
    """
    layers = parse_spec(spec, input_shape)
    out = []
    for entry in layers:
        if (entry["type"] == "pool" and entry["kind"] == "max" and out
                and out[-1]["type"] in NON_DECREASING):
            out.insert(len(out) - 1, entry)
        else:
            out.append(entry)
    return out


# --- the seed notebook's tuple form and the seed family ------------------------------------------

def _bn_flag(item, where):
    if item and isinstance(item[-1], str):
        if item[-1].upper() != "BN":
            raise SpecError("%s: expected 'BN' as the optional last element, got %s"
                            % (where, _show(item[-1])))
        return list(item[:-1]), True
    return list(item), False


def _seed_item(group, item, where, act):
    """One item of cnnlayers/fclayers -> its raw layers, in the seed's order."""
    if not isinstance(item, (list, tuple)):
        raise SpecError("%s: expected a list, got %s" % (where, _show(item)))
    values, bn = _bn_flag(item, where)
    is_float = lambda v: isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral)
    if len(values) == 1 and not bn and (group == "cnnlayers" or is_float(values[0])):
        return [{"type": "dropout", "rate": values[0]}]
    if group == "cnnlayers" and len(values) in (3, 5):
        layer = dict(zip(("type", "channels", "kernel", "padding"), ["conv"] + values[:3]))
        after = [{"type": "pool", "size": values[3], "stride": values[4]}] if len(values) == 5 else []
    elif group == "fclayers" and len(values) == 1:
        layer, after = {"type": "dense", "units": values[0]}, []
    else:
        expected = ("[channels, kernel, padding, pool_size, pool_stride] with an optional 'BN', or "
                    "[dropout_rate]" if group == "cnnlayers" else
                    "[units] or [units, 'BN'], or [dropout_rate] with a float rate")
        raise SpecError("%s: expected %s, got %s" % (where, expected, _show(item)))
    return [layer] + ([{"type": "bn"}] if bn else []) + [dict(act)] + after


def from_seed_tuples(cnnlayers, fclayers, activation="relu", classes=10):
    """Convert the seed notebook's layer tuples into a canonical spec.

    ``cnnlayers``: items ``[channels, kernel, padding, pool_size, pool_stride]`` (or
    ``[channels, kernel, padding]`` for no pool), optionally ending in ``'BN'``, give
    conv -> (BatchNorm) -> activation -> pool; a one-element item ``[rate]`` is a Dropout.
    ``fclayers``: ``[units]`` or ``[units, 'BN']`` give dense -> (BatchNorm) -> activation; a float
    ``[rate]`` is a Dropout. ``activation``: an activation type name (``'relu'``, ``'leakyrelu'``...)
    or dict. A ``dense(classes)`` classifier ends the network (``classes=None`` leaves it out).
    Example, the seed's dropout network::

        from_seed_tuples(([64, 3, 1, 2, 2, 'BN'], [0.3], [64, 3, 0, 2, 2, 'BN'], [0.3]),
                         ([256, 'BN'], [0.3], [64, 'BN'], [0.3]))
    """
    try:
        act = _activation_entry(activation, "activation")
    except _NotActivation as exc:
        raise SpecError("activation: %s" % exc) from None
    located = []
    for group, items in (("cnnlayers", cnnlayers), ("fclayers", fclayers)):
        if not isinstance(items, (list, tuple)):
            raise SpecError("%s: expected a tuple of lists, got %s" % (group, _show(items)))
        for i, item in enumerate(items):
            where = "%s[%d]" % (group, i)
            for raw in _seed_item(group, item, where, act):
                located += [(where, None, entry) for entry in _normalize(raw, where)]
    return [_compact(entry) for _, _, entry in _structure(located, _check_classes(classes))]


def _seed_dict(spec):
    """{"cnnlayers": ..., "fclayers": ..., "activation": ...} (e.g. from YAML) -> canonical list."""
    allowed = ("cnnlayers", "fclayers", "activation", "classes")
    for key in spec:
        if key not in allowed:
            raise SpecError("seed tuple dict: unknown key %r%s (keys: %s)"
                            % (key, _did_you_mean(key, allowed), ", ".join(allowed)))
    for key in allowed[:2]:
        if key not in spec:
            raise SpecError("seed tuple dict: missing key %r (expected keys %s)" % (key, ", ".join(allowed)))
    return from_seed_tuples(**spec)


# The presets (they are parsed with the functions above, so they come last).
from .presets import RECIPE_SHORTHAND, SEED_SYSTEMS, seed_spec  # noqa: E402,F401
