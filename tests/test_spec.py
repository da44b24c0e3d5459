"""Layer specs: every accepted form, canonical round trips, validation messages, shape traces.

These tests need no MXNet objects: parsing and tracing happen before any network exists.
"""
import json

import numpy as np
import pytest

from fmnist_gluon import PRESETS, SpecError, from_seed_tuples, parse_spec, seed_spec, spec_to_json, trace_shapes
from fmnist_gluon.spec import LAYER_KINDS, SEED_SHORTHAND, SHORT_NAMES, spec_to_shorthand

# The seed post's baseline, as written in the issue (no flatten, stride/padding defaults omitted).
SEED_LIST = [
    {"type": "conv", "channels": 64, "kernel": 3, "padding": 1}, {"type": "relu"}, {"type": "pool", "size": 2},
    {"type": "conv", "channels": 64, "kernel": 3}, {"type": "relu"}, {"type": "pool", "size": 2},
    {"type": "dense", "units": 256}, {"type": "relu"}, {"type": "dense", "units": 64}, {"type": "relu"},
    {"type": "dense", "units": 10},
]
SEED_CNN_DROPOUT = ([64, 3, 1, 2, 2, "BN"], [0.3], [64, 3, 0, 2, 2, "BN"], [0.3])
SEED_FC_DROPOUT = ([256, "BN"], [0.3], [64, "BN"], [0.3])

# One layer of every kind, written minimally (required fields only).
MINIMAL = {
    "conv": {"channels": 4, "kernel": 3}, "pool": {"size": 2}, "globalpool": {}, "bn": {},
    "dropout": {"rate": 0.25}, "flatten": {}, "dense": {"units": 5}, "pad": {"padding": 1},
    "zoo": {"name": "cifar_resnet20_v1"},
}


def minimal(layer_type):
    return dict(MINIMAL.get(layer_type, {}), type=layer_type)


def types(spec):
    return [layer["type"] for layer in spec]


def error(spec, **kwargs):
    with pytest.raises(SpecError) as info:
        parse_spec(spec, **kwargs)
    return info.value


# --- canonical form ---------------------------------------------------------------------------------

def test_canonical_form_fills_defaults_and_inserts_flatten():
    spec = parse_spec(SEED_LIST)
    assert spec[0] == {"type": "conv", "channels": 64, "kernel": 3, "stride": 1, "padding": 1}
    assert spec[2] == {"type": "pool", "size": 2, "stride": 2, "kind": "max"}  # stride defaults to size
    assert spec[3]["padding"] == 0
    assert types(spec)[5:8] == ["pool", "flatten", "dense"]  # flatten before the first dense only
    assert types(spec).count("flatten") == 1
    assert len(spec) == len(SEED_LIST) + 1
    assert list(spec[0]) == ["type", "channels", "kernel", "stride", "padding"]  # table order


def test_parse_does_not_modify_its_input_and_is_idempotent():
    original = json.loads(json.dumps(SEED_LIST))
    spec = parse_spec(SEED_LIST)
    assert SEED_LIST == original
    assert parse_spec(spec) == spec


def test_seed_baseline_true_shapes():
    shapes = trace_shapes(SEED_LIST)
    assert shapes[0] == (64, 28, 28)   # padding 1 keeps 28
    assert shapes[2] == (64, 14, 14)   # pool 2
    assert shapes[3] == (64, 12, 12)   # conv 3x3, no padding
    assert shapes[5] == (64, 6, 6)     # pool 2 (the post's 13/10/5 comments are wrong)
    assert shapes[6] == (64 * 6 * 6,)  # 2304 features
    assert shapes[-1] == (10,)


@pytest.mark.parametrize("layer_type", sorted(LAYER_KINDS))
def test_every_layer_type_parses_from_dict_and_shorthand(layer_type):
    kind = LAYER_KINDS[layer_type]
    before = [] if kind.role in ("map", "net") else [{"type": "flatten"}]
    spec = parse_spec([{"type": "conv", "channels": 3, "kernel": 3}] + before + [minimal(layer_type)])
    layer = spec[-1]
    assert layer["type"] == layer_type
    # all defaults filled, except fields added later that hold their default (left out)
    assert set(layer) == {"type"} | {f for f, field in kind.fields.items() if not field.added}
    assert parse_spec(spec_to_shorthand(spec)) == spec  # the shorthand can say it too
    assert len(trace_shapes(spec)) == len(spec)


def test_shape_rules_for_strides_padding_and_pools():
    spec = [{"type": "conv", "channels": 8, "kernel": 5, "stride": 2, "padding": 2},   # (28+4-5)//2+1 = 14
            {"type": "pool", "size": 3, "stride": 2, "kind": "avg"},                   # (14-3)//2+1 = 6
            {"type": "globalpool", "kind": "max"}, {"type": "dense", "units": 7}]
    assert trace_shapes(spec) == [(8, 14, 14), (8, 6, 6), (8, 1, 1), (8,), (7,)]
    assert trace_shapes(spec, input_shape=(3, 32, 20))[:2] == [(8, 16, 10), (8, 7, 4)]


def test_activation_field_becomes_its_own_layer():
    spec = parse_spec([{"type": "conv", "channels": 8, "kernel": 3, "activation": "relu"},
                       {"type": "bn", "activation": {"type": "leakyrelu", "alpha": 0.2}},
                       {"type": "dense", "units": 10, "activation": "lrelu0.1"}])
    assert types(spec) == ["conv", "relu", "bn", "leakyrelu", "flatten", "dense", "leakyrelu"]
    assert spec[3]["alpha"] == 0.2 and spec[6]["alpha"] == 0.1
    assert all("activation" not in layer for layer in spec)


def test_classes_appends_a_classifier_only_when_needed():
    assert parse_spec(SEED_LIST, classes=10) == parse_spec(SEED_LIST)
    spec = parse_spec("conv8k3-relu-gap", classes=7)
    assert types(spec)[-2:] == ["flatten", "dense"] and spec[-1]["units"] == 7
    spec = parse_spec("conv8k3-dense32-relu", classes=3)
    assert types(spec)[-3:] == ["dense", "relu", "dense"] and types(spec).count("flatten") == 1


def test_numpy_numbers_are_accepted():
    spec = parse_spec([{"type": "conv", "channels": np.int64(8), "kernel": np.int32(3)},
                       {"type": "dropout", "rate": np.float32(0.5)}])
    assert spec[0]["channels"] == 8 and type(spec[0]["channels"]) is int
    assert spec[1]["rate"] == 0.5 and type(spec[1]["rate"]) is float


# --- the other forms ------------------------------------------------------------------------------

def test_shorthand_equals_the_list_form():
    assert parse_spec(SEED_SHORTHAND) == parse_spec(SEED_LIST)
    assert parse_spec(" CONV64K3P1 - relu-pool2-conv64k3-relu-pool2-dense256-relu-dense64-relu-dense10") \
        == parse_spec(SEED_LIST)


def test_shorthand_short_names():
    spec = parse_spec("conv8k3s2p1-bn-lrelu0.1-maxpool2-avgpool3s1-drop.5-gmp-fc4-elu0.5-swish2")
    assert spec[0] == {"type": "conv", "channels": 8, "kernel": 3, "stride": 2, "padding": 1}
    assert spec[2] == {"type": "leakyrelu", "alpha": 0.1}
    assert spec[3] == {"type": "pool", "size": 2, "stride": 2, "kind": "max"}
    assert spec[4] == {"type": "pool", "size": 3, "stride": 1, "kind": "avg"}
    assert spec[5] == {"type": "dropout", "rate": 0.5}
    assert spec[6] == {"type": "globalpool", "kind": "max"}
    assert spec[8] == {"type": "dense", "units": 4}
    assert spec[9:] == [{"type": "elu", "alpha": 0.5}, {"type": "swish", "beta": 2.0}]
    assert parse_spec("gap", input_shape=(3, 8, 8)) == [{"type": "globalpool", "kind": "avg"}]
    assert {t for t, _ in SHORT_NAMES.values()} <= set(LAYER_KINDS)


def test_list_items_may_be_shorthand_tokens():
    assert parse_spec(SEED_SHORTHAND.split("-")) == parse_spec(SEED_LIST)


def test_json_and_yaml_files(tmp_path):
    expected = parse_spec(SEED_LIST)
    (tmp_path / "net.json").write_text(json.dumps(SEED_LIST))
    (tmp_path / "net.yaml").write_text(
        "# the seed baseline\n"
        "- {type: conv, channels: 64, kernel: 3, padding: 1}\n- {type: relu}\n- {type: pool, size: 2}\n"
        "- {type: conv, channels: 64, kernel: 3}\n- relu\n- pool2\n"
        "- {type: dense, units: 256, activation: relu}\n- dense64\n- relu\n- {type: dense, units: 10}\n")
    (tmp_path / "layers.yml").write_text("layers: " + SEED_SHORTHAND + "\n")
    (tmp_path / "preset.yml").write_text("baseline\n")
    for name in ("net.json", "net.yaml", "layers.yml", "preset.yml"):
        assert parse_spec(str(tmp_path / name)) == expected, name
    assert parse_spec(tmp_path / "net.json") == expected  # a pathlib.Path works too


def test_yaml_is_read_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['echo hacked > %s']\n" % (tmp_path / "hacked"))
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec(str(path))
    assert not (tmp_path / "hacked").exists()


def test_seed_tuple_form_matches_the_presets():
    baseline = from_seed_tuples(([64, 3, 1, 2, 2], [64, 3, 0, 2, 2]), ([256], [64]))
    assert baseline == PRESETS["baseline"] == parse_spec(SEED_LIST)
    assert from_seed_tuples(SEED_CNN_DROPOUT, SEED_FC_DROPOUT) == PRESETS["dropout"]
    # parse_spec accepts the tuple form directly, as a tuple or as a dict (e.g. from YAML)
    assert parse_spec((SEED_CNN_DROPOUT, SEED_FC_DROPOUT)) == PRESETS["dropout"]
    assert parse_spec({"cnnlayers": SEED_CNN_DROPOUT, "fclayers": SEED_FC_DROPOUT,
                       "activation": "leakyrelu"}) == PRESETS["leaky"]
    assert parse_spec((SEED_CNN_DROPOUT, SEED_FC_DROPOUT, "leakyrelu")) == PRESETS["leaky"]


def test_seed_tuple_layer_order():
    spec = from_seed_tuples(([32, 5, 2, 3, 2, "bn"], [0.2], [16, 3, 1]), ([100, "BN"], [0.5], [50]),
                            activation="tanh", classes=4)
    assert types(spec) == ["conv", "bn", "tanh", "pool", "dropout", "conv", "tanh", "flatten",
                           "dense", "bn", "tanh", "dropout", "dense", "tanh", "dense"]
    assert spec[0] == {"type": "conv", "channels": 32, "kernel": 5, "stride": 1, "padding": 2}
    assert spec[3] == {"type": "pool", "size": 3, "stride": 2, "kind": "max"}
    assert spec[4]["rate"] == 0.2 and spec[11]["rate"] == 0.5
    assert spec[-1] == {"type": "dense", "units": 4}
    no_pool = from_seed_tuples([[8, 3, 1]], [], classes=None)  # [c, k, p]: conv without a pool
    assert no_pool == [{"type": "conv", "channels": 8, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"}]


def test_presets_are_the_seed_ladder():
    bn, dropout = PRESETS["bn"], PRESETS["dropout"]
    assert types(PRESETS["baseline"]) == ["conv", "relu", "pool", "conv", "relu", "pool", "flatten",
                                          "dense", "relu", "dense", "relu", "dense"]
    # bn: BatchNorm between every conv / hidden dense and its ReLU
    assert types(bn) == ["conv", "bn", "relu", "pool", "conv", "bn", "relu", "pool", "flatten",
                         "dense", "bn", "relu", "dense", "bn", "relu", "dense"]
    # dropout: the bn network + Dropout 0.3 after each conv block (after the pool) and each hidden dense
    assert types(dropout) == ["conv", "bn", "relu", "pool", "dropout", "conv", "bn", "relu", "pool",
                              "dropout", "flatten", "dense", "bn", "relu", "dropout", "dense", "bn",
                              "relu", "dropout", "dense"]
    assert {layer["rate"] for layer in dropout if layer["type"] == "dropout"} == {0.3}
    assert [l for l in dropout if l["type"] != "dropout"] == bn
    leaky = PRESETS["leaky"]
    assert types(leaky) == [t.replace("relu", "leakyrelu") for t in types(dropout)]
    assert [l["channels"] for l in PRESETS["wide"] if l["type"] == "conv"] == [128, 128]
    assert seed_spec() == PRESETS["baseline"] and seed_spec(True, 0.3) == dropout
    for name, spec in PRESETS.items():
        assert parse_spec(name) == spec == parse_spec(spec), name
        assert spec[-1] in ({"type": "dense", "units": 10}, {"type": "zoo", "name": "mobilenet1.0",
                                                            "resize": 56, "classes": 10})


@pytest.mark.parametrize("spec", list(PRESETS) + [
    SEED_SHORTHAND, "conv8k5s2p2-bn-prelu-avgpool3s2-dropout0.05-gmp-fc16-selu-gelu-sigmoid-tanh-"
    "softrelu-softsign-elu0.3-swish1.5-lrelu0.001-dense10"])
def test_canonical_json_canonical_is_the_identity(spec):
    canonical = parse_spec(spec)
    text = spec_to_json(canonical)
    assert json.loads(text) == canonical
    assert parse_spec(json.loads(text)) == canonical
    assert spec_to_json(json.loads(text)) == text
    assert parse_spec(spec_to_shorthand(canonical)) == canonical
    assert len(text.splitlines()) == len(canonical) + 2  # one layer per line


# --- validation ---------------------------------------------------------------------------------------

def assert_names(err, index, layer_type, field, *fragments):
    message = str(err)
    assert (err.index, err.layer_type, err.field) == (index, layer_type, field)
    assert message.startswith("layer %d" % index), message
    if layer_type:
        assert "(%s)" % layer_type in message, message
    if field:
        assert "field %r" % field in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_unknown_type_suggests_the_right_one():
    err = error([{"type": "conv", "channels": 8, "kernel": 3}, {"type": "rleu"}])
    assert_names(err, 1, None, "type", "'rleu'", "did you mean 'relu'?")
    assert "did you mean 'bn'?" in str(error([{"type": "batchnorm"}]))   # a common alias
    assert "did you mean 'conv'?" in str(error([{"type": "Conv", "channels": 1, "kernel": 1}]))
    assert "did you mean 'relu'?" in str(error("conv8k3-rleu"))
    assert "did you mean 'baseline' (a preset)?" in str(error("baselin"))


def test_unknown_field_suggests_the_right_one():
    err = error([{"type": "conv", "chanels": 64, "kernel": 3}])
    assert_names(err, 0, "conv", "chanels", "did you mean 'channels'?", "channels, kernel, stride, padding")
    err = error(["conv8k3", {"type": "dropout", "rat": 0.5}])
    assert_names(err, 1, "dropout", "rat", "did you mean 'rate'?")


@pytest.mark.parametrize("layer, field, expected, given", [
    ({"type": "conv", "channels": 0, "kernel": 3}, "channels", "a positive int", "got 0"),
    ({"type": "conv", "channels": 8, "kernel": 3, "padding": -1}, "padding", "an int >= 0", "got -1"),
    ({"type": "dropout", "rate": 1.0}, "rate", "a float in [0, 1)", "got 1.0"),
    ({"type": "dropout", "rate": -0.1}, "rate", "a float in [0, 1)", "got -0.1"),
    ({"type": "pool", "size": 2, "kind": "mean"}, "kind", "'max' or 'avg'", "got 'mean'"),
    ({"type": "leakyrelu", "alpha": float("nan")}, "alpha", "a float >= 0", "got nan"),
])
def test_bad_values_name_the_field(layer, field, expected, given):
    err = error([layer])
    assert_names(err, 0, layer["type"], field, "expected " + expected, given)


@pytest.mark.parametrize("value, shown", [(True, "True (bool)"), ("3", "'3' (str)"), (3.0, "3.0 (float)"),
                                          (None, "None (NoneType)")])
def test_bad_types_name_the_field(value, shown):
    err = error([{"type": "conv", "channels": 8, "kernel": value}])
    assert_names(err, 0, "conv", "kernel", "expected a positive int", "got " + shown)


def test_missing_fields_and_type():
    assert_names(error([{"type": "dense"}]), 0, "dense", "units", "missing", "a positive int")
    assert_names(error([{"units": 3}]), 0, None, None, "missing 'type'")
    assert_names(error(["conv8k3", 7]), 1, None, None, "expected a dict", "got 7 (int)")


def test_shape_collapse_names_the_layer():
    err = error("conv8k3-pool2-pool2-pool2-pool2-pool2")  # 26 -> 13 -> 6 -> 3 -> 1 -> collapse
    assert_names(err, 5, "pool", "size", "larger than its input 1x1", "collapse", "expected size <= 1, got 2")


def test_kernel_larger_than_its_padded_input():
    err = error([{"type": "conv", "channels": 8, "kernel": 9}], input_shape=(1, 6, 6))
    assert_names(err, 0, "conv", "kernel", "kernel 9 is larger than its input 6x6")
    err = error([{"type": "conv", "channels": 8, "kernel": 9, "padding": 1}], input_shape=(1, 6, 6))
    assert_names(err, 0, "conv", "kernel", "padded input 8x8", "expected kernel <= 8, got 9")
    assert parse_spec([{"type": "conv", "channels": 8, "kernel": 8, "padding": 1}], input_shape=(1, 6, 6))


def test_spatial_layer_after_dense_or_flatten():
    assert_names(error("dense10-conv8k3"), 1, "conv", None, "already flat")
    assert_names(error("conv8k3-flatten-pool2"), 2, "pool", None, "already flat")


def test_classifier_mismatch():
    assert_names(error("conv8k3-dense5", classes=10), 1, "dense", "units", "units == classes == 10", "got 5")


@pytest.mark.parametrize("spec, fragment", [
    ([], "the spec is empty"), ("", "the spec is empty"), ("  ", "the spec is empty"),
    (42, "got 42 (int)"), (None, "got None"),
    ({"type": "conv", "channels": 8, "kernel": 3}, "wrap it in a list"),
    ({"layer": []}, "dict with key 'layers'"),
    ({"cnnlayers": [[8, 3, 1]], "fclayer": [[16]]}, "unknown key 'fclayer'; did you mean 'fclayers'?"),
    ({"cnnlayers": [[8, 3, 1]]}, "missing key 'fclayers'"),
    ("conv8k3--relu", "empty token at position 1"),
    ("conv8k3q1", "unknown letter 'q'"), ("relu3", "relu takes no number"), ("conv8k", "could not read token"),
    ("64", "must start with a layer name"),
])
def test_helpful_messages_for_malformed_specs(spec, fragment):
    assert fragment in str(error(spec))


def test_every_form_hint_for_wrong_python_objects():
    message = str(error(3.5))
    for form in ("list of layer dicts", "preset name (baseline", ".json/.yaml/.yml", "shorthand", "tuple form"):
        assert form in message


def test_file_errors(tmp_path):
    assert "not found" in str(error(str(tmp_path / "missing.yaml")))
    (tmp_path / "bad.json").write_text("[{\"type\": ")
    assert "not valid JSON" in str(error(str(tmp_path / "bad.json")))
    (tmp_path / "net.txt").write_text("relu")
    assert "expected a .json, .yaml or .yml file" in str(error(str(tmp_path / "net.txt")))
    (tmp_path / "typo.yaml").write_text("- {type: conv, channels: 8, kernal: 3}\n")
    assert_names(error(str(tmp_path / "typo.yaml")), 0, "conv", "kernal", "did you mean 'kernel'?")


@pytest.mark.parametrize("kwargs, fragment", [
    ({"input_shape": (28, 28)}, "input_shape: expected (channels, height, width)"),
    ({"input_shape": (1, 0, 28)}, "input_shape"), ({"input_shape": (True, 28, 28)}, "input_shape"),
    ({"classes": 0}, "classes: expected a positive int"), ({"classes": 2.5}, "classes"),
])
def test_bad_arguments(kwargs, fragment):
    assert fragment in str(error(SEED_LIST, **kwargs))


@pytest.mark.parametrize("cnn, fc, activation, fragment", [
    ([[64, 3]], [], "relu", "cnnlayers[0]: expected [channels, kernel, padding, pool_size, pool_stride]"),
    ([[64, 3, 1, 2, 2, "BM"]], [], "relu", "cnnlayers[0]: expected 'BN'"),
    ([[64, 3, 1, 2, 2]], [[256, 128]], "relu", "fclayers[0]: expected [units] or [units, 'BN']"),
    ([[64, 3, 1, 2, 2]], [[0.3, "BN"]], "relu", "fclayers[0] (dense), field 'units'"),
    ([[64, 3, 1, 2, 2], [1.5]], [], "relu", "cnnlayers[1] (dropout), field 'rate'"),
    ([[64, 3, 1, 2, 2]], [[256]], "bn", "activation: expected an activation"),
    ([[64, 3, 1, 2, 2]], [[256]], "relo", "did you mean 'relu'?"),
    (64, [[256]], "relu", "cnnlayers: expected a tuple of lists"),
])
def test_seed_tuple_errors(cnn, fc, activation, fragment):
    with pytest.raises(SpecError) as info:
        from_seed_tuples(cnn, fc, activation)
    assert fragment in str(info.value)


def test_seed_spec_validates_its_arguments():
    for kwargs, fragment in [({"batchnorm": 1}, "batchnorm: expected True or False"),
                             ({"dropout": 1.0}, "a float in [0, 1)"), ({"filters": 0}, "a positive int")]:
        with pytest.raises(SpecError) as info:
            seed_spec(**kwargs)
        assert fragment in str(info.value)


def test_spec_error_is_a_value_error():
    assert issubclass(SpecError, ValueError)


def test_pool_before_activation_moves_max_pools_in_front_of_non_decreasing_activations():
    from fmnist_gluon import pool_before_activation

    moved = pool_before_activation("conv8k3p1-bn-relu-pool2-conv8k3-lrelu0.1-pool2-dense16-relu")
    assert spec_to_shorthand(moved) == "conv8k3p1-bn-pool2-relu-conv8k3-pool2-leakyrelu0.1-flatten-dense16-relu"
    # GELU and swish are not monotonic, average pools do not commute with any of these: unchanged
    for text in ("conv8k3-gelu-pool2", "conv8k3-swish-pool2", "conv8k3-relu-avgpool2", "conv8k3-relu-bn-pool2"):
        assert pool_before_activation(text) == parse_spec(text)
    assert trace_shapes(moved)[-1] == trace_shapes("conv8k3p1-bn-relu-pool2-conv8k3-lrelu0.1-pool2-dense16-relu")[-1]
