"""Export: MXNet symbol + params and ONNX; the ONNX file run in onnxruntime against MXNet."""
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from fmnist_gluon import build_cnn
from fmnist_gluon.export import ExportError, export_mxnet, export_onnx, onnx_predict, onnx_session

from conftest import signal_images

NETS = {
    "bn": "conv8k3p1-bn-relu-pool2-conv16k3-bn-relu-pool2-dense32-bn-relu",
    "dropout": "conv8k3p1-relu-pool2-drop0.3-conv16k3-relu-pool2-drop0.3-dense32-relu-drop0.5",
    "leakyrelu": "conv8k3p1-leakyrelu0.1-pool2-conv16k3-leakyrelu0.1-pool2-dense32-leakyrelu0.1",
    "avgpool": "conv8k3p1-relu-avgpool2-conv16k3-relu-avgpool2s2-conv16k3-relu-gap",
}


def trained_like(spec, seed=0):
    """A network with non-trivial weights and BatchNorm statistics (running mean/var far
    from 0/1, so a runtime that used batch statistics or skipped BN would show)."""
    mx.random.seed(seed)
    net = build_cnn(spec)
    net.initialize(mx.init.Xavier(magnitude=2.24))
    rng = np.random.default_rng(seed)
    for name, p in net.collect_params().items():
        if name.endswith("running_mean"):
            p.set_data(mx.nd.array(rng.normal(0, 0.5, p.shape)))
        elif name.endswith("running_var"):
            p.set_data(mx.nd.array(rng.uniform(0.5, 2.0, p.shape)))
        elif name.endswith(("gamma", "beta")):
            p.set_data(mx.nd.array(rng.normal(1 if name.endswith("gamma") else 0, 0.3, p.shape)))
    return net


def float64_copy(net, spec, tmp_path):
    twin = build_cnn(spec)
    net.save_parameters(str(tmp_path / "w.params"))
    twin.load_parameters(str(tmp_path / "w.params"))
    twin.cast("float64")
    return twin


@pytest.mark.parametrize("kind", sorted(NETS))
def test_onnxruntime_matches_mxnet(kind, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    spec = NETS[kind]
    net = trained_like(spec)
    images, _ = signal_images(64, seed=3)
    x = images[:, None].astype(np.float32) / 255.0
    with mx.autograd.predict_mode():
        ours = net(mx.nd.array(x)).asnumpy()
        exact = float64_copy(net, spec, tmp_path)(mx.nd.array(x, dtype="float64")).asnumpy()
    path = export_onnx(net, tmp_path / "model.onnx")
    session = onnx_session(path)
    assert session.get_inputs()[0].shape[1:] == [1, 28, 28]  # and a free batch axis
    theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
    # Tolerance from the rounding this test can see: MXNet in float32 differs from the same
    # network in float64 by its float32 rounding error on these very inputs. onnxruntime does
    # the same float32 operations in another order (other kernels), so its error is of the same
    # size, and the two float32 results differ by at most about the sum of both errors. Four
    # times the measured error leaves room for that; the floor of 4 ulps of the largest logit
    # covers a batch on which MXNet happened to round unusually well.
    rounding = float(np.abs(ours - exact).max())
    ulp = float(np.spacing(np.float32(np.abs(exact).max())))
    tolerance = 4 * max(rounding, ulp)
    assert np.abs(theirs - ours).max() <= tolerance, (np.abs(theirs - ours).max(), tolerance)
    assert np.abs(theirs - exact).max() <= tolerance
    assert (theirs.argmax(1) == ours.argmax(1)).all()
    probs = onnx_predict(path, images)  # uint8 in, scaled like training
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    assert (probs.argmax(1) == ours.argmax(1)).all()
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "w.params"]  # no temporary leftovers


def test_export_mxnet_round_trip(tmp_path):
    net = trained_like(NETS["bn"])
    paths = export_mxnet(net, tmp_path / "sub" / "net")
    assert [os.path.basename(p) for p in paths] == ["net-symbol.json", "net-0000.params"]
    block = mx.gluon.SymbolBlock.imports(paths[0], ["data"], paths[1])
    x = mx.nd.array(signal_images(8, seed=1)[0][:, None] / 255.0)
    np.testing.assert_array_equal(block(x).asnumpy(), net(x).asnumpy())
    assert sorted(os.listdir(tmp_path / "sub")) == ["net-0000.params", "net-symbol.json"]


class Cbrt(nn.HybridBlock):
    """A layer whose operator (cbrt) mxnet.onnx cannot convert."""

    def hybrid_forward(self, F, x):
        return F.cbrt(x)


def test_an_unsupported_layer_is_named(tmp_path):
    pytest.importorskip("onnx")
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, in_channels=1), Cbrt(), nn.Dense(10, in_units=4 * 26 * 26))
    net.initialize()
    with pytest.raises(ExportError) as info:
        export_onnx(net, tmp_path / "model.onnx")
    message = str(info.value)
    assert "layer 1 (Cbrt" in message and "'cbrt'" in message and "format 'mxnet'" in message
    assert os.listdir(tmp_path) == []  # nothing half-written
    export_mxnet(net, tmp_path / "model")  # the MXNet format takes it
    assert sorted(os.listdir(tmp_path)) == ["model-0000.params", "model-symbol.json"]


def test_a_block_that_is_not_hybrid_is_refused(tmp_path):
    net = nn.Sequential()
    net.add(nn.Dense(10, in_units=784))
    net.initialize()
    with pytest.raises(ExportError, match="HybridBlock"):
        export_mxnet(net, tmp_path / "model")
