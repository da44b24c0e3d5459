"""Property-based fuzzing of the spec layer (issue 14, point 3), and its ceilings.

Random specs over every kind of ``spec.LAYER_KINDS`` with hostile values go through
``parse_spec``, ``build_cnn``, ``summary`` and a forward pass: each ends in a SpecError that
locates the problem, or a network whose output has the traced shape (tests/spec_strategies.py).
The CI profile is derandomized (the same examples on every run); benchmarks/fuzz_specs.py runs
many more and counts them (docs/reliability.md).
"""
import math
import os
import re
import resource
import subprocess
import sys

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import spec_strategies as S  # noqa: E402
from fmnist_gluon import build_cnn, spec, summary  # noqa: E402
from fmnist_gluon.spec import LAYER_KINDS, SpecError, parse_spec  # noqa: E402

settings.register_profile("fmnist-ci", max_examples=150, deadline=None, derandomize=True,
                          database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                 HealthCheck.data_too_large])
CI = settings.get_profile("fmnist-ci")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@settings(CI)
@given(case=st.tuples(S.SPECS, S.CLASSES, S.INPUT_SHAPES, st.integers(1, 2)))
def test_random_specs_are_refused_clearly_or_built_to_the_trace(case):
    spec_, classes, input_shape, batch = case
    assert S.check_spec(spec_, classes, input_shape, batch) in ("error", "built")


@settings(CI, max_examples=60)
@given(case=S.one_bad_field())
def test_one_invalid_field_is_named_by_index_and_field(case):
    layers, index, field = case
    with pytest.raises(SpecError) as info:
        parse_spec(layers, classes=None)
    assert (info.value.index, info.value.field) == (index, field), str(info.value)
    assert "layer %d (%s), field %r" % (index, layers[index]["type"], field) in str(info.value)


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS))
def test_every_layer_kind_builds_and_runs_to_its_trace(kind):
    # Its smallest valid layer, read off the table: a kind added to LAYER_KINDS is covered here.
    layer = S.minimal_layer(kind)
    assert S.check_spec([layer], classes=None) == "built"
    assert S.check_spec([layer, {"type": "dense", "units": 3}], classes=3, batch=2) == "built"


# --- regressions the fuzzer found (each was a TypeError, OverflowError or MXNetError) -------------

@pytest.mark.parametrize("layer, field, words", [
    ({"type": ["conv"], "channels": 8, "kernel": 3}, "type", "unknown layer type"),
    ({"type": "conv", "channels": 8, "kernel": 1, "stride": 2 ** 31}, "stride", "32-bit"),
    ({"type": "leakyrelu", "alpha": 10 ** 400}, "alpha", "too large"),
    ({"type": "leakyrelu", "alpha": 1e-320}, "alpha", "float32"),
    ({"type": "elu", "alpha": 1e308}, "alpha", "float32"),
    ({"type": "dropout", "rate": 1 - 1e-12}, "rate", "float32"),
    ({"type": "flatten", 0: 1}, 0, "unknown field"),
    ({"type": "flatten", "": 1}, "", "unknown field"),
])
def test_values_mxnet_cannot_take_are_spec_errors(layer, field, words):
    with pytest.raises(SpecError) as info:
        build_cnn([layer])
    assert (info.value.index, info.value.field) == (0, field)
    assert words in str(info.value) and "field %r" % (field,) in str(info.value)


def test_huge_values_give_short_messages():
    for bad in ([{"type": "dropout", "rate": [list(range(10 ** 5))]}], "conv" + "9" * 5000,
                [{"type": "conv", "channels": "x" * 10 ** 6, "kernel": 3}]):
        with pytest.raises(SpecError) as info:
            parse_spec(bad)
        assert len(str(info.value)) < 500 and info.value.index == 0


# --- the ceilings: refused before anything is allocated -------------------------------------------

def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_conv_with_a_billion_channels_is_refused_without_allocating():
    before = _peak_rss_mb()
    for call in (parse_spec, build_cnn, lambda s: summary(s, print_fn=None)):
        with pytest.raises(SpecError) as info:
            call([{"type": "conv", "channels": 10 ** 9, "kernel": 3}, {"type": "relu"}])
        message = str(info.value)
        assert info.value.index == 0 and message.startswith("layer 0 (conv)")
        assert "10,000,000,000 parameters" in message  # 10**9 x (1 x 3 x 3 + 1)
        assert "MAX_PARAMS = 100,000,000" in message and "raise fmnist_gluon.spec.MAX_PARAMS" in message
    # Building the net would have needed 40 GB; the peak resident size did not move by 100 MB.
    assert _peak_rss_mb() - before < 100


def test_the_layer_that_crosses_the_parameter_ceiling_is_named():
    # conv 4096 x 3 x 3 on 1 channel is small (41k); the dense after it (4096*28*28 -> 64) is not.
    with pytest.raises(SpecError) as info:
        parse_spec("conv4096k3p1-relu-dense64", classes=None)
    assert info.value.index == 2 and "layer 2 (dense)" in str(info.value)
    n = 4096 * 28 * 28 * 64 + 64 + 4096 * 10
    assert "{:,} parameters".format(n) in str(info.value)


def test_activation_ceiling_names_the_layer_and_how_to_raise_it():
    with pytest.raises(SpecError) as info:
        parse_spec([{"type": "relu"}, {"type": "conv", "channels": 4, "kernel": 1, "padding": 5000}])
    message = str(info.value)
    assert info.value.index == 1 and "layer 1 (conv)" in message
    assert "4x10028x10028" in message and "MAX_ACTIVATIONS = 33,554,432" in message
    assert "raise fmnist_gluon.spec.MAX_ACTIVATIONS" in message


def test_raising_the_ceiling_lets_a_big_spec_through(monkeypatch):
    big = [{"type": "conv", "channels": 10 ** 6, "kernel": 3}]
    with pytest.raises(SpecError):
        parse_spec(big)
    monkeypatch.setattr(spec, "MAX_PARAMS", 10 ** 8 * 1000)
    monkeypatch.setattr(spec, "MAX_ACTIVATIONS", 10 ** 9)
    assert parse_spec(big)[0]["channels"] == 10 ** 6


def test_presets_sit_well_under_the_ceilings():
    for name in spec.PRESETS:
        s = summary(name, print_fn=None)
        assert s.total_params * 10 < spec.MAX_PARAMS
        assert sum(math.prod(shape) for shape in s.output_shapes) * 10 < spec.MAX_ACTIVATIONS


# --- the benchmark that runs many more ------------------------------------------------------------

def test_fuzz_benchmark_prints_the_counts():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "fuzz_specs.py"),
                          "--examples", "10", "--seed", "3"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    counts = {key: int(value) for key, value in re.findall(
        r"^(examples tried|SpecErrors|built nets|other exceptions)[^:]*: *(\d+)$", out.stdout, re.M)}
    assert counts["examples tried"] == 10 and counts["other exceptions"] == 0
    assert counts["SpecErrors"] + counts["built nets"] == 10
    per_kind = re.search(r"^built nets holding each layer kind: (.*)$", out.stdout, re.M).group(1)
    assert [item.split()[0] for item in per_kind.split(", ")] == list(LAYER_KINDS)
