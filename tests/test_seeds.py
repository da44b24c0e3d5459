"""The seed systems of issue 18: their layer kinds (grouped conv, zero padding, per-layer init),
presets checked against the published architectures, and rungs that train each one."""
import mxnet as mx
import numpy as np
import pytest

from fmnist_gluon import PRESETS, SpecError, build_cnn, fit, parse_spec, summary, trace_shapes
from fmnist_gluon import ladder
from fmnist_gluon.model import INITIALIZERS, ZeroPad
from fmnist_gluon.spec import INIT_NAMES, SEED_SYSTEMS, spec_to_shorthand


def mxnet_param_count(net):
    return sum(p.data().size for p in net.collect_params().values())


def tiny_data(n=8, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8), np.arange(n) % 10


# --- layer kinds ----------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, shape", [
    ("conv8k3p1-conv8k3p1g8-conv16k1g2-conv4k3s2p1g4", (1, 12, 12)),   # depthwise, grouped
    ("conv6k3g3-conv12k3g6", (3, 10, 10)),
])
def test_grouped_conv_counts_match_mxnet(spec, shape):
    counted = summary(spec, input_shape=shape, print_fn=None, classes=None)
    net = build_cnn(spec, classes=None, input_shape=shape)
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(shape=(2,) + shape)
    assert net(x).shape[1:] == trace_shapes(spec, input_shape=shape)[-1]
    assert counted.total_params == mxnet_param_count(net)
    assert summary(net, input_shape=shape, print_fn=None).total_macs == counted.total_macs
    # depthwise 3x3 over 8 channels at 12x12: 8 * (1 * 9 + 1) parameters, 144 * 8 * 9 MACs
    if shape == (1, 12, 12):
        assert counted.rows[1].params == 80 and counted.rows[1].macs == 144 * 8 * 9


def test_groups_must_divide_both_channel_counts():
    with pytest.raises(SpecError, match="field 'groups': input channels 8 are not divisible by groups 3"):
        parse_spec("conv8k3-conv9k3g3")
    with pytest.raises(SpecError, match="field 'groups': channels 10 are not divisible by groups 4"):
        parse_spec("conv8k3-conv10k3g4")
    with pytest.raises(SpecError, match="groups.*positive int"):
        parse_spec([{"type": "conv", "channels": 8, "kernel": 3, "groups": 0}])


def test_groups_and_init_round_trip_and_stay_out_of_old_specs():
    spec = parse_spec("conv8k3p1@he_normal-conv8k3g8-dense10@lecun_normal")
    assert spec[0]["init"] == "he_normal" and "groups" not in spec[0]
    assert spec[1]["groups"] == 8 and "init" not in spec[1]
    assert spec[-1] == {"type": "dense", "units": 10, "init": "lecun_normal"}
    assert spec_to_shorthand(spec) == "conv8k3p1@he_normal-conv8k3g8-flatten-dense10@lecun_normal"
    assert parse_spec(spec_to_shorthand(spec)) == spec
    # an explicit default is the same canonical layer as none (rung folders stay valid)
    assert parse_spec([{"type": "conv", "channels": 8, "kernel": 3, "groups": 1, "init": None}]) \
        == [{"type": "conv", "channels": 8, "kernel": 3, "stride": 1, "padding": 0}]
    with pytest.raises(SpecError, match="field 'init': expected one of he_normal"):
        parse_spec([{"type": "dense", "units": 10, "init": "he"}])
    with pytest.raises(SpecError, match="relu takes no '@' suffix"):
        parse_spec("conv8k3-relu@he_normal")


def test_init_names_are_the_initializer_table():
    assert set(INIT_NAMES) == set(INITIALIZERS)


@pytest.mark.parametrize("name, sd", [
    ("he_normal", lambda fi, fo: np.sqrt(2 / fi)),
    ("he_uniform", lambda fi, fo: np.sqrt(6 / fi) / np.sqrt(3)),
    ("glorot_uniform", lambda fi, fo: np.sqrt(6 / (fi + fo)) / np.sqrt(3)),
    ("glorot_normal", lambda fi, fo: np.sqrt(2 / (fi + fo))),
    ("lecun_normal", lambda fi, fo: np.sqrt(1 / fi)),
])
def test_per_layer_init_survives_fits_global_init(name, sd):
    # fit initialises with Xavier magnitude 0.001 here: a layer with its own init must keep it
    spec = "conv64k3p1@%s-relu-dense10" % name
    x, y = tiny_data()
    net = build_cnn(spec)
    fit(net, (x, y), epochs=1, batch_size=8, lr=0.0, seed=0, init_magnitude=0.001, verbose=False)
    w = net[0].weight.data().asnumpy()
    fan_in, fan_out = 9, 64 * 9
    assert w.std() == pytest.approx(sd(fan_in, fan_out), rel=0.1)
    assert net[3].weight.data().asnumpy().std() < 1e-3  # the dense layer took fit's init


def test_zero_padding_layer_hybridizes_and_traces():
    spec = "pad2-conv6k5-tanh"
    assert trace_shapes(spec)[0] == (1, 32, 32)
    net = build_cnn(spec, classes=None)
    assert isinstance(net[0], ZeroPad)
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(shape=(2, 1, 28, 28))
    padded = net[0](x).asnumpy()
    assert padded.shape == (2, 1, 32, 32)
    np.testing.assert_array_equal(padded[:, :, 2:30, 2:30], x.asnumpy())
    assert padded[:, :, :2].sum() == padded[:, :, -2:].sum() == 0
    eager = net(x).asnumpy()
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-6)
    assert summary(net, print_fn=None).output_shapes[0] == (1, 32, 32)


# --- presets ------------------------------------------------------------------------------------

# Parameter counts of the published architectures (issue 18's table): LeNet-5's 61,706
# (LeCun et al. 1998 with a 10-way output); the others counted by hand from the table.
PUBLISHED_PARAMS = {
    "lenet5": 156 + 2416 + 48120 + 10164 + 850,                      # 61,706
    "dense": 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10,      # 266,610 (Keras summary)
    "mlp": 784 * 256 + 256 + 256 * 512 + 512 + 512 * 100 + 100 + 1010,
    "vgg": 320 + 18496 + 73856 + 295168 + 4096 * 10 + 10,
    "cnn1": 320 + 18496 + 36928 + 1024 * 10 + 10,
    "cnn2": 320 + 18496 + 73856 + 6272 * 128 + 128 + 1290,
    "mobilenet": 3239114,  # GluonCV MobileNet 1.0, 10 classes (tests/test_zoo.py)
}


@pytest.mark.parametrize("name", list(SEED_SYSTEMS))
def test_every_seed_preset_builds_counts_and_trains_a_step(name):
    spec = PRESETS[name]
    counted = summary(name, print_fn=None)
    if name in PUBLISHED_PARAMS:
        assert counted.total_params == PUBLISHED_PARAMS[name]
    x, y = tiny_data(2 if name == "mobilenet" else 8)
    net = build_cnn(spec)
    rung = ladder.RUNGS[name]
    history = fit(net, (x, y), epochs=1, batch_size=2, optimizer=rung.optimizer, lr=rung.lr,
                  seed=0, verbose=False)
    assert np.isfinite(history.epochs[0]["train_loss"])
    assert mxnet_param_count(net) == counted.total_params


def test_lenet5_shapes_are_the_papers():
    shapes = trace_shapes("lenet5")
    assert shapes[:8] == [(1, 32, 32), (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10),
                          (16, 10, 10), (16, 5, 5), (120, 1, 1)]


def test_vgg_shapes_follow_the_table():
    shapes = trace_shapes("vgg")
    assert shapes[7] == (256, 12, 12) and shapes[9] == (256, 4, 4)  # valid conv, max-pool 3


# --- rungs --------------------------------------------------------------------------------------

def test_seeds_group_selects_every_system_in_order():
    names = [r.name for r in ladder.get_rungs("seeds")]
    assert names == ["mlp", "vgg", "dense", "cnn1", "cnn2", "lenet5", "cnn-dropout", "mobilenet",
                     "mobilenet-flip"]
    assert [r.name for r in ladder.get_rungs("dense,seed")] == ["baseline", "adam", "bn", "dropout",
                                                                 "dense"]
    assert set(ladder.PUBLISHED) == set(names)
    with pytest.raises(ValueError, match="or a group .seed, seeds"):
        ladder.get_rungs("sedes")


def test_seed_rungs_carry_their_training_settings():
    r = ladder.RUNGS
    assert (r["vgg"].batch_size, r["vgg"].epochs, r["vgg"].optimizer) == (500, 45, "adam")
    assert (r["dense"].optimizer, r["dense"].lr, r["dense"].epochs) == ("sgd", 1e-3, 5)
    assert r["cnn1"].optimizer == "nadam" and r["cnn2"].epochs == 8
    assert (r["mobilenet"].batch_size, r["mobilenet"].epochs) == (64, 50)
    assert r["mobilenet-flip"].augment == "flip" and r["mobilenet-flip"].spec == "mobilenet"
    assert all(x.wd == 0.0 and x.init_magnitude == 3.0 for x in ladder.get_rungs("seeds"))


def test_each_gap_variant_is_its_system_with_one_change_and_is_tested_against_it():
    for base, variant in ladder.GAP_VARIANTS:
        ours, theirs = variant.config(), ladder.RUNGS[base].config()
        changed = {k for k in ours if k not in ("name", "description") and ours[k] != theirs[k]}
        if "optimizer" in changed:
            changed.discard("lr")  # another optimizer comes with its own default step
        assert len(changed) == 1, (variant.name, changed)
        names = [r.name for r in ladder.get_rungs([base, variant.name])]
        assert names == [base, variant.name]  # listed right after its system
        assert ladder.comparison_pairs(names) == [(base, variant.name)]
    assert ladder.RUNGS["cnn1-e50"].config()["epochs"] == 50
    assert ladder.RUNGS["cnn2-e20"].config()["epochs"] == 20
    same = ladder.RUNGS["cnn-dropout-same"].config()["spec"]
    assert [layer["padding"] for layer in same if layer["type"] == "conv"] == [1, 1, 1]
    keras = ladder.RUNGS["cnn-dropout-keras"].config()["spec"]
    kinds = [layer["type"] for layer in keras]
    assert kinds.count("dropout") == 2 and kinds.count("dense") == 2
    assert kinds.index("dropout") > max(i for i, k in enumerate(kinds) if k == "conv")
    assert kinds[kinds.index("dense") + 2] == "dropout"  # dense 128, its ReLU, then dropout 0.5
    vgg = ladder.RUNGS["vgg-dropout"].config()["spec"]
    assert [layer["rate"] for layer in vgg if layer["type"] == "dropout"] == [0.25, 0.25, 0.5]


@pytest.mark.slow
def test_seeds_example_trains_and_reports_against_the_published_figures(idx_dir, tmp_path):
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "seeds"
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "seeds.py")
    cmd = [sys.executable, script, "--rungs", "dense,dense-lr0.01", "--epochs", "1",
           "--repeats", "2", "--out", str(out), "--quiet"]
    env = dict(os.environ, FMNIST_GLUON_DATA=str(idx_dir), OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    md = (out / "results.md").read_text()
    assert "| published % |" in md and "| 83.86 |" in md
    assert "Against the published figures" in md
    assert "| dense-lr0.01 | dense | best val acc |" in md  # the Welch row of the variant
    report = json.loads((out / "results.json").read_text())
    assert report["command"].startswith("python examples/seeds.py --rungs dense,dense-lr0.01")
    assert [(c["previous"], c["rung"]) for c in report["comparisons"]] == [("dense", "dense-lr0.01")] * 2
    assert (out / "best_vs_seed.png").exists() and (out / "curves_dense.png").exists()
    # with no --rungs/--out the example's defaults apply (here: rebuild the report only)
    rebuilt = subprocess.run([sys.executable, script, "--report", "--out", str(out)], env=env,
                             capture_output=True, timeout=120)
    assert rebuilt.returncode == 0 and b"| dense | 1 |" in rebuilt.stdout
