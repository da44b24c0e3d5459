"""GluonCV model-zoo networks as specs: validation, parameter counts against GluonCV's own
networks, one training step, checkpoints, test-time augmentation and export.

The zoo networks are built small (batch 2, 28x28 unless a test resizes) so the file stays fast.
"""
import json

import mxnet as mx
import numpy as np
import pytest

from fmnist_gluon import SpecError, build_cnn, evaluate, fit, parse_spec, summary
from fmnist_gluon.model import block_macs
from fmnist_gluon.spec import ZOO_MODELS, spec_to_shorthand
from fmnist_gluon.zoo import ZooNet

gluoncv = pytest.importorskip("gluoncv")


def tiny_data(n=4, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8), np.arange(n) % 10


def gluoncv_param_count(name, classes=10, size=28):
    net = gluoncv.model_zoo.get_model(name, pretrained=False, classes=classes)
    net.initialize()
    net(mx.nd.zeros((1, 3, size, size)))
    return sum(p.data().size for p in net.collect_params().values())


def test_zoo_spec_forms_are_one_canonical_layer():
    canonical = [{"type": "zoo", "name": "mobilenet1.0", "resize": 56, "classes": 10}]
    assert parse_spec({"type": "zoo", "name": "mobilenet1.0", "resize": 56}, classes=10) == canonical
    assert parse_spec([{"type": "zoo", "name": "mobilenet1.0", "resize": 56}]) == canonical
    assert parse_spec("zoo56@mobilenet1.0") == canonical
    assert spec_to_shorthand(canonical) == "zoo56@mobilenet1.0"
    five = parse_spec([{"type": "zoo", "name": "cifar_resnet20_v1", "classes": 5}], classes=5)
    assert five == [{"type": "zoo", "name": "cifar_resnet20_v1", "resize": None, "classes": 5}]
    assert parse_spec(json.loads(json.dumps(five))) == five  # JSON keeps resize null
    with pytest.raises(SpecError, match="no shorthand form"):  # letters need the main number
        spec_to_shorthand(five)
    resized = parse_spec("zoo32c5@cifar_resnet20_v1", classes=5)
    assert resized == [dict(five[0], resize=32)]
    assert spec_to_shorthand(resized) == "zoo32c5@cifar_resnet20_v1"


def test_unknown_zoo_name_lists_the_known_ones():
    with pytest.raises(SpecError) as info:
        parse_spec({"type": "zoo", "name": "mobilenet"})
    message = str(info.value)
    assert "field 'name'" in message and "'mobilenet'" in message
    assert all(name in message for name in ZOO_MODELS)
    with pytest.raises(ValueError, match="known: mobilenet1.0"):
        ZooNet("resnet9000")


def test_zoo_validation_messages():
    with pytest.raises(SpecError, match="expected classes == 10, got 5"):
        parse_spec([{"type": "zoo", "name": "cifar_resnet20_v1", "classes": 5}], classes=10)
    with pytest.raises(SpecError, match="1 .grey, tiled to 3. or 3 input channels, got 2"):
        parse_spec([{"type": "zoo", "name": "cifar_resnet20_v1"}], input_shape=(2, 28, 28))
    with pytest.raises(SpecError, match="already flat"):
        parse_spec("dense32-zoo@cifar_resnet20_v1")
    with pytest.raises(SpecError, match="resize"):
        parse_spec([{"type": "zoo", "name": "cifar_resnet20_v1", "resize": 0}])


def test_every_known_name_is_a_gluoncv_classifier():
    assert set(ZOO_MODELS) <= set(gluoncv.model_zoo.get_model_list())


@pytest.mark.parametrize("name, published", [
    ("cifar_resnet20_v1", 0.27e6),   # He et al. 2016, table 6: 0.27M parameters
    ("mobilenet1.0", 3.2e6),         # Howard et al. 2017: 4.2M with 1000 classes, 1024*990 fewer
    ("mobilenetv2_1.0", 2.2e6),      # Sandler et al. 2018: 3.4M with 1000 classes (1280*990 fewer)
])
def test_parameter_counts_match_gluoncv_and_the_papers(name, published):
    spec = [{"type": "zoo", "name": name}]
    counted = summary(spec, print_fn=None).total_params
    assert counted == gluoncv_param_count(name)
    assert abs(counted - published) / published < 0.05
    net = build_cnn(spec)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    assert sum(p.data().size for p in net.collect_params().values()) == counted
    assert summary(net, print_fn=None).total_params == counted


def test_macs_of_a_zoo_network_are_its_convolutions_and_dense_layers():
    # cifar_resnet20_v1 at 32x32 (3 channels): the paper's ~41 M multiply-adds
    net = ZooNet("cifar_resnet20_v1", in_channels=3)
    assert 40e6 < block_macs(net, (3, 32, 32)) < 42e6
    # resizing inside the network: MobileNet 1.0 at 224 is 569 M mult-adds (Howard et al.),
    # and MACs scale with the pixels the network sees
    at224 = summary([{"type": "zoo", "name": "mobilenet1.0", "resize": 224}], print_fn=None)
    assert abs(at224.total_macs - 569e6) / 569e6 < 0.02
    at56 = summary([{"type": "zoo", "name": "mobilenet1.0", "resize": 56}], print_fn=None)
    assert at56.total_params == at224.total_params and at56.total_macs < at224.total_macs / 10


def test_tiling_and_resizing_happen_inside_the_network():
    net = build_cnn([{"type": "zoo", "name": "cifar_resnet20_v1", "resize": 40}])
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(shape=(2, 1, 28, 28))
    inner = net[0]
    y = inner.net(mx.nd.contrib.BilinearResize2D(mx.nd.tile(x, reps=(1, 3, 1, 1)), height=40, width=40))
    np.testing.assert_allclose(net(x).asnumpy(), y.asnumpy(), rtol=1e-5, atol=1e-6)
    assert inner.net.features[0].weight.shape[1] == 3  # the zoo net itself sees 3 channels


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet1.0", "mobilenetv2_1.0", "cifar_resnet20_v1"])
def test_one_training_step_checkpoint_tta_and_export(name, tmp_path):
    spec = [{"type": "zoo", "name": name, "resize": 32 if name.startswith("mobilenet") else None}]
    x, y = tiny_data()
    net = build_cnn(spec)
    history = fit(net, (x, y), epochs=1, batch_size=2, optimizer="adam", lr=1e-3, seed=0,
                  verbose=False)
    assert np.isfinite(history.epochs[0]["train_loss"])
    # checkpoints: the same outputs after save / load into a fresh network
    path = str(tmp_path / "net.params")
    net.save_parameters(path)
    again = build_cnn(spec)
    again.load_parameters(path)
    batch = mx.nd.array(x[:2, None] / 255.0)
    np.testing.assert_allclose(again(batch).asnumpy(), net(batch).asnumpy(), rtol=1e-5, atol=1e-5)
    # test-time augmentation
    scored = evaluate(net, (x, y), tta="flip")
    assert 0.0 <= scored["accuracy"] <= 1.0
    # export: hybridize, run, export, import and compare
    net.hybridize()
    expected = net(batch).asnumpy()
    prefix = str(tmp_path / "exported")
    net.export(prefix)
    imported = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    np.testing.assert_allclose(imported(batch).asnumpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in ZOO_MODELS
                                  if n not in ("mobilenet1.0", "mobilenetv2_1.0", "cifar_resnet20_v1")])
def test_every_other_zoo_model_builds_and_summarises(name):
    spec = [{"type": "zoo", "name": name}]
    counted = summary(spec, print_fn=None)
    net = build_cnn(spec)
    assert summary(net, print_fn=None).total_params == counted.total_params > 0
    assert counted.total_macs > 0 and counted.output_shapes == [(10,)]


def test_summary_of_a_zoo_layer_without_a_shorthand_form():
    """Found by benchmarks/fuzz_specs.py: classes set but no resize has no shorthand token; the
    summary row shows the layer's dict instead of failing."""
    layer = {"type": "zoo", "name": "cifar_resnet20_v1", "classes": 5}
    s = summary([layer], classes=None, print_fn=None)
    assert '"classes": 5' in s.rows[0].layer and s.rows[0].output_shape == (5,)
    net = build_cnn([layer], classes=None)
    assert s.total_params == summary(net, print_fn=None).total_params
