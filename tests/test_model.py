"""build_cnn and summary, checked against MXNet itself: parameter counts from collect_params,
shapes from a real forward pass, outputs of every layer type against numpy references."""
import math

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from fmnist_gluon import PRESETS, SpecError, build_cnn, parse_spec, summary, trace_shapes
from fmnist_gluon.model import BLOCKS, Summary
from fmnist_gluon.spec import LAYER_KINDS

# Every layer kind at least once, with non-default fields, on a 3x16x16 input (but zoo, a
# whole network: tests/test_zoo.py).
ALL_KINDS = ("conv8k3s1p1-bn-relu-conv8k5s2p2g2@he_normal-lrelu0.2-maxpool2-pad1-conv6k3p1-prelu-"
             "avgpool3s1-elu0.5-drop0.1-conv4k1-gmp-bn-gap-dense12@glorot_normal-bn-selu-dense10-"
             "gelu-dense9-swish2-dense8-sigmoid-dense7-tanh-dense6-softrelu-dense5-softsign-"
             "flatten-dense10")
ALL_SHAPE = (3, 16, 16)


def initialized(spec, input_shape=(1, 28, 28), classes=10, seed=0, pool_first=True):
    mx.random.seed(seed)
    net = build_cnn(spec, classes=classes, input_shape=input_shape, pool_first=pool_first)
    net.initialize(mx.init.Xavier())
    return net


def forward_shapes(net, x):
    """Per-image output shape of every child, from a real forward pass."""
    shapes = []
    for block in net:
        x = block(x)
        shapes.append(x.shape[1:])
    return shapes


def mxnet_param_count(net):
    return sum(p.data().size for p in net.collect_params().values())


def test_blocks_cover_every_layer_kind():
    assert set(BLOCKS) == set(LAYER_KINDS)


def test_every_layer_kind_is_built_and_runs():
    spec = parse_spec(ALL_KINDS, input_shape=ALL_SHAPE)
    assert set(l["type"] for l in spec) == set(LAYER_KINDS) - {"zoo"}
    net = initialized(ALL_KINDS, input_shape=ALL_SHAPE, pool_first=False)  # net[i] is spec[i]
    assert isinstance(net, nn.HybridSequential) and len(net) == len(spec)
    expected_class = {"conv": nn.Conv2D, "bn": nn.BatchNorm, "dropout": nn.Dropout, "flatten": nn.Flatten,
                      "dense": nn.Dense, "leakyrelu": nn.LeakyReLU, "prelu": nn.PReLU, "elu": nn.ELU,
                      "selu": nn.SELU, "gelu": nn.GELU, "swish": nn.Swish}
    for layer, block in zip(spec, net):
        if layer["type"] in expected_class:
            assert isinstance(block, expected_class[layer["type"]]), (layer, block)
        if layer["type"] == "pool":
            assert isinstance(block, {"max": nn.MaxPool2D, "avg": nn.AvgPool2D}[layer["kind"]])
            assert block._kwargs["kernel"] == (layer["size"],) * 2
            assert block._kwargs["stride"] == (layer["stride"],) * 2
        if layer["type"] == "globalpool":
            assert isinstance(block, {"max": nn.GlobalMaxPool2D, "avg": nn.GlobalAvgPool2D}[layer["kind"]])
        if layer["type"] == "dropout":
            assert block._rate == layer["rate"]
    x = mx.nd.random.uniform(shape=(4,) + ALL_SHAPE)
    assert forward_shapes(net, x) == trace_shapes(ALL_KINDS, input_shape=ALL_SHAPE)
    net.hybridize()
    assert net(x).shape == (4, 10)


def reference(layer_type, x):
    """numpy definitions of the activations, written from their formulas."""
    sigmoid = lambda v: 1 / (1 + np.exp(-v))
    erf = np.vectorize(math.erf)
    selu_lambda, selu_alpha = 1.0507009873554805, 1.6732632423543772
    return {
        "relu": lambda: np.maximum(x, 0),
        "leakyrelu": lambda: np.where(x > 0, x, 0.2 * x),       # alpha 0.2 below
        "prelu": lambda: np.where(x > 0, x, 0.25 * x),          # gluon's initial slope
        "elu": lambda: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)),
        "selu": lambda: selu_lambda * np.where(x > 0, x, selu_alpha * (np.exp(x) - 1)),
        "gelu": lambda: 0.5 * x * (1 + erf(x / np.sqrt(2))),
        "swish": lambda: x * sigmoid(2.0 * x),
        "sigmoid": lambda: sigmoid(x),
        "tanh": lambda: np.tanh(x),
        "softrelu": lambda: np.log1p(np.exp(x)),
        "softsign": lambda: x / (1 + np.abs(x)),
    }[layer_type]()


@pytest.mark.parametrize("layer_type", [t for t, k in LAYER_KINDS.items() if k.role == "activation"])
def test_activations_compute_what_their_names_say(layer_type):
    fields = {"leakyrelu": {"alpha": 0.2}, "elu": {"alpha": 0.5}, "swish": {"beta": 2.0}}.get(layer_type, {})
    net = initialized([dict(fields, type=layer_type)], input_shape=(1, 3, 4), classes=None)
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(1, 1, 3, 4)
    got = net(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(got, reference(layer_type, x.astype(np.float64)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["baseline", "bn", "dropout", "leaky", "wide"])
def test_seed_ladder_networks_build_and_run(name):
    net = initialized(name)
    x = mx.nd.random.uniform(shape=(5, 1, 28, 28))
    out = net(x)
    assert out.shape == (5, 10)
    assert np.isfinite(out.asnumpy()).all()
    shapes = forward_shapes(net, x)
    spatial = [s[1] for s in shapes if len(s) == 3]
    filters = 128 if name == "wide" else 64
    assert sorted(set(spatial), reverse=True) == [28, 14, 12, 6]  # 28 -> pool 14 -> conv 12 -> pool 6
    assert (filters * 6 * 6,) in shapes  # the flatten: 2304 features (4608 for "wide")


@pytest.mark.parametrize("spec, input_shape", [(name, (1, 28, 28)) for name in sorted(PRESETS)]
                         + [(ALL_KINDS, ALL_SHAPE), ("conv16k3-bn-relu-gap", (3, 32, 32))])
def test_summary_agrees_with_mxnet(spec, input_shape):
    net = initialized(spec, input_shape=input_shape, pool_first=False)  # rows in the spec's order
    x = mx.nd.zeros((2,) + input_shape)
    true_shapes = forward_shapes(net, x)               # also completes any initialization
    from_spec = summary(spec, input_shape=input_shape, print_fn=None)
    from_net = summary(net, input_shape=input_shape, print_fn=None)
    for result in (from_spec, from_net):
        assert result.total_params == mxnet_param_count(net)   # BatchNorm running stats included
        assert result.output_shapes == true_shapes
        assert [r.index for r in result.rows] == list(range(len(net)))
    assert [r.params for r in from_spec.rows] == [r.params for r in from_net.rows]
    assert [r.macs for r in from_spec.rows] == [r.macs for r in from_net.rows]
    assert from_spec.total_macs == from_net.total_macs > 0
    reordered = summary(initialized(spec, input_shape=input_shape), input_shape=input_shape, print_fn=None)
    assert (reordered.total_params, reordered.total_macs) == (from_net.total_params, from_net.total_macs)
    assert reordered.output_shapes[-1] == true_shapes[-1]


def test_summary_macs_follow_the_documented_formulas():
    net = initialized("baseline")
    x = mx.nd.zeros((1, 1, 28, 28))
    expected = 0
    for block in net:
        y = block(x)
        if isinstance(block, nn.Conv2D):
            out_c, in_c, kh, kw = block.weight.shape
            expected += y.shape[2] * y.shape[3] * out_c * kh * kw * in_c
        elif isinstance(block, nn.Dense):
            expected += x.size * y.size
        x = y
    assert summary("baseline", print_fn=None).total_macs == expected


def test_summary_of_a_hand_built_uninitialized_net():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, 5), nn.BatchNorm(), nn.Activation("relu"), nn.AvgPool2D(2), nn.Dense(10))
    result = summary(net, print_fn=None)       # deferred shapes, nothing initialized: still works
    assert result.output_shapes == [(6, 24, 24), (6, 24, 24), (6, 24, 24), (6, 12, 12), (10,)]
    net.initialize()
    net(mx.nd.zeros((1, 1, 28, 28)))
    assert result.total_params == mxnet_param_count(net)
    assert [r.layer for r in result.rows][:3] == ["Conv2D", "BatchNorm", "Activation(relu)"]


def test_summary_expands_nested_sequentials():
    inner = nn.HybridSequential()
    inner.add(nn.Conv2D(4, 3, in_channels=1), nn.Activation("relu"))
    net = nn.HybridSequential()
    net.add(inner, nn.Dense(10))
    result = summary(net, print_fn=None)
    flat = summary("conv4k3-relu-dense10", print_fn=None)
    assert [(r.output_shape, r.params, r.macs) for r in result.rows] == \
        [(r.output_shape, r.params, r.macs) for r in flat.rows if r.layer != "flatten"]


def test_summary_prints_a_table():
    lines = []
    result = summary("baseline", print_fn=lines.append)
    assert isinstance(result, Summary) and lines == [str(result)]
    text = lines[0]
    assert "64x6x6" in text and "2304" in text
    assert "{:,}".format(result.total_params) in text.splitlines()[-1]
    assert "{:,}".format(result.total_macs) in text.splitlines()[-1]
    assert len(text.splitlines()) == len(result.rows) + 4  # header, rules, total
    assert repr(result).startswith("<Summary: 12 layers")


def test_build_options():
    net = initialized("conv8k3-relu-gap", classes=None)
    assert net(mx.nd.zeros((2, 1, 28, 28))).shape == (2, 8, 1, 1)  # no classifier appended
    net = initialized("conv8k3-relu-gap", classes=4)
    assert net(mx.nd.zeros((2, 1, 28, 28))).shape == (2, 4)
    net = initialized("baseline", input_shape=(3, 32, 32))
    assert net(mx.nd.zeros((2, 3, 32, 32))).shape == (2, 10)
    # every block knows its input size, so parameters have shapes right after initialize()
    assert all(0 not in p.shape for p in net.collect_params().values())


def test_build_rejects_bad_specs_before_making_blocks():
    with pytest.raises(SpecError, match="kernel 9 is larger"):
        build_cnn("conv8k9", input_shape=(1, 8, 8))
    with pytest.raises(SpecError, match="units == classes == 10"):
        build_cnn("conv8k3-dense5")


POOL_ORDER_SPECS = ["baseline", "bn", "conv16k3p1-bn-lrelu0.2-pool2-conv16k3-bn-lrelu0.2-pool2-dense32-relu",
                    "conv8k3p1-elu-pool2-tanh-pool2-conv4k3-sigmoid-pool2",
                    "conv8k3p1-prelu-pool2-conv8k3-selu-pool2-gelu-dense16-relu"]


def both_orders(spec, seed=0):
    """(net in the written order, net built by default) with the same parameters."""
    written = build_cnn(spec, pool_first=False)
    default = build_cnn(spec)
    for net in (written, default):
        mx.random.seed(seed)
        net.initialize(mx.init.Xavier())
    return written, default


def test_build_cnn_puts_max_pools_before_non_decreasing_activations_by_default():
    kinds = lambda net: [type(b).__name__ for b in net]
    written, default = both_orders("conv8k3p1-relu-pool2-conv8k3-bn-relu-pool2-conv8k3-gelu-pool2")
    assert kinds(written)[:3] == ["Conv2D", "Activation", "MaxPool2D"]
    assert kinds(default)[:3] == ["Conv2D", "MaxPool2D", "Activation"]
    assert kinds(default)[3:7] == ["Conv2D", "BatchNorm", "MaxPool2D", "Activation"]  # BN stays first
    assert kinds(default)[7:10] == kinds(written)[7:10] == ["Conv2D", "GELU", "MaxPool2D"]  # GELU dips: kept
    assert kinds(build_cnn("baseline", pool_first=False)) == [
        type(b).__name__ for b in build_cnn(parse_spec("baseline"), pool_first=False)]


@pytest.mark.parametrize("spec", POOL_ORDER_SPECS)
def test_pool_first_computes_the_same_function(spec):
    written, default = both_orders(spec)
    x = mx.nd.random.normal(shape=(4, 1, 28, 28))
    outputs, grads = [], []
    for net in (written, default):
        with mx.autograd.record():
            out = net(x)
            loss = (out * mx.nd.arange(10)).sum()
        loss.backward()
        outputs.append(out.asnumpy())
        grads.append([p.grad().asnumpy() for p in net.collect_params().values() if p.grad_req != "null"])
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    assert len(grads[0]) == len(grads[1]) > 0
    for g0, g1 in zip(*grads):
        np.testing.assert_allclose(g1, g0, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("spec", POOL_ORDER_SPECS)
def test_checkpoints_load_across_pool_orders(spec, tmp_path):
    """save_parameters names parameters by position ('0.weight', '4.bias'): only parameter-free
    layers trade places, so both orders have the same names, and files load either way."""
    written, default = both_orders(spec, seed=1)
    mx.random.seed(2)
    default.initialize(mx.init.Xavier(), force_reinit=True)  # other values than `written`
    written.save_parameters(str(tmp_path / "written.params"))
    default.save_parameters(str(tmp_path / "default.params"))
    assert sorted(mx.nd.load(str(tmp_path / "written.params"))) == \
        sorted(mx.nd.load(str(tmp_path / "default.params")))
    fresh_default = build_cnn(spec)
    fresh_default.load_parameters(str(tmp_path / "written.params"))  # old order -> new order
    fresh_written = build_cnn(spec, pool_first=False)
    fresh_written.load_parameters(str(tmp_path / "default.params"))  # and back
    x = mx.nd.random.normal(shape=(3, 1, 28, 28))
    np.testing.assert_allclose(fresh_default(x).asnumpy(), written(x).asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fresh_written(x).asnumpy(), default(x).asnumpy(), rtol=1e-5, atol=1e-6)
