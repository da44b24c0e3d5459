"""The shared argument checks: one rule per kind of argument, used by every public function."""
import mxnet as mx
import numpy as np
import pytest

from fmnist_gluon import validation as V
from fmnist_gluon.data import BatchIterator, load_dataset
from fmnist_gluon.distributed import parse_ctx
from fmnist_gluon.ladder import get_rungs
from fmnist_gluon.spec import SpecError, parse_spec
from fmnist_gluon.train import evaluate, fit, predict
from test_train import TRAIN, tiny_net


@pytest.mark.parametrize("bad", [True, False, 0, -1, 2.0, "8", None])
def test_batch_size_is_checked_alike_everywhere(bad):
    x = np.zeros((4, 28, 28), np.uint8)
    calls = [lambda: BatchIterator(x, batch_size=bad),
             lambda: fit(tiny_net(), TRAIN, epochs=1, batch_size=bad, verbose=0),
             lambda: evaluate(tiny_net(), TRAIN, batch_size=bad),
             lambda: predict(tiny_net(), x, batch_size=bad)]
    messages = set()
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        messages.add(str(info.value))
    assert messages == {"batch_size: expected a positive integer, got %r" % (bad,)}


def test_integer_checks_refuse_bools_and_accept_numpy_ints():
    assert V.check_positive_int(np.int64(3), "n") == 3 and V.check_non_negative_int(0, "n") == 0
    for bad in (True, 1.5, "1"):
        with pytest.raises(ValueError, match="n: expected a positive integer"):
            V.check_positive_int(bad, "n")
    with pytest.raises(ValueError, match="seed: expected None or a non-negative integer"):
        V.check_seed(True)
    assert V.check_seed(None) is None and V.check_seed(np.uint32(7)) == 7
    with pytest.raises(ValueError, match=r"x: expected a number in \[0, 1\), e.g. 0.1"):
        V.check_number(float("nan"), "x", 0, 1, high_open=True, hint=", e.g. 0.1")
    with pytest.raises(ValueError, match="probability"):
        V.check_probability(True)


def test_contexts_have_one_rule_and_one_default():
    default = [mx.gpu(i) for i in range(mx.context.num_gpus())] or [mx.cpu()]
    assert V.resolve_contexts(None) == default
    assert V.resolve_contexts("cpu:0,cpu:1") == [mx.cpu(0), mx.cpu(1)]
    assert V.resolve_contexts(mx.cpu(1)) == [mx.cpu(1)]
    assert parse_ctx("cpu:0,cpu:1") == [mx.cpu(0), mx.cpu(1)] and parse_ctx("cpu") == mx.cpu()
    with pytest.raises(ValueError, match="ctx 'tpu'"):
        V.resolve_contexts("tpu")
    with pytest.raises(TypeError, match=r"ctx: expected None \(every GPU MXNet sees, else"):
        V.resolve_contexts([])
    x = np.zeros((4, 28, 28), np.uint8)
    assert BatchIterator(x, batch_size=2).ctx == (default[0] if len(default) == 1 else default)
    data, _ = next(iter(BatchIterator(x, batch_size=2, ctx="cpu:0,cpu:1")))
    assert [d.context for d in data] == [mx.cpu(0), mx.cpu(1)]
    h = fit(tiny_net(), TRAIN, epochs=1, batch_size=64, verbose=0, ctx="cpu:0,cpu:1", seed=0)
    assert h.meta["contexts"] == ["cpu(0)", "cpu(1)"]


def test_did_you_mean_is_worded_once():
    assert V.did_you_mean("rleu", ["relu", "tanh"]) == "; did you mean 'relu'?"
    assert V.did_you_mean("zzz", ["relu"]) == ""
    with pytest.raises(ValueError, match="unknown rung 'dropuot'; did you mean 'dropout'?"):
        get_rungs("dropuot")
    with pytest.raises(ValueError, match="'tset'.*; did you mean 'test'"):
        load_dataset(split="tset")
    with pytest.raises(SpecError, match="did you mean 'relu'"):
        parse_spec("conv8k3-rleu")
