"""The ladder: rung definitions match the seed post exactly, and the runner resumes."""
import dataclasses
import json
import os

import mxnet as mx
import numpy as np
import pytest

from fmnist_gluon import ladder
from fmnist_gluon.model import build_cnn, summary
from fmnist_gluon.spec import parse_spec
from fmnist_gluon.train import evaluate

C, R, P = ({"type": "conv"}, {"type": "relu"}, {"type": "pool"})


def _types(spec):
    return [layer["type"] for layer in spec]


def test_seed_rungs_have_the_posts_settings():
    r = ladder.RUNGS
    assert (r["baseline"].optimizer, r["baseline"].lr, r["baseline"].wd) == ("sgd", 0.1, 1e-6)
    for name in ("adam", "bn", "dropout"):
        assert (r[name].optimizer, r[name].lr) == ("adam", 1e-3)
    assert [r[n].epochs for n in ladder.SEED_LADDER] == [50, 50, 50, 100]
    assert all(r[n].batch_size == 128 and r[n].init_magnitude == 2.24 for n in ladder.SEED_LADDER)
    assert ladder.SEED_REFERENCE == {"baseline": 92.42, "adam": 93.05, "bn": 93.31, "dropout": 94.39}


def test_baseline_rung_layers_exactly():
    spec = parse_spec(ladder.RUNGS["baseline"].spec)
    convs = [l for l in spec if l["type"] == "conv"]
    assert [(c["channels"], c["kernel"], c["padding"], c["stride"]) for c in convs] == [
        (64, 3, 1, 1), (64, 3, 0, 1)]
    pools = [l for l in spec if l["type"] == "pool"]
    assert [(p["size"], p["stride"], p["kind"]) for p in pools] == [(2, 2, "max")] * 2
    assert [l["units"] for l in spec if l["type"] == "dense"] == [256, 64, 10]
    assert "bn" not in _types(spec) and "dropout" not in _types(spec)


def test_bn_rung_puts_batchnorm_between_layer_and_relu():
    types = _types(parse_spec(ladder.RUNGS["bn"].spec))
    for i, t in enumerate(types):
        if t == "bn":
            assert types[i - 1] in ("conv", "dense") and types[i + 1] == "relu"
    assert types.count("bn") == 4  # two convs, two hidden dense


def test_dropout_rung_drops_after_each_block():
    spec = parse_spec(ladder.RUNGS["dropout"].spec)
    types = _types(spec)
    drops = [i for i, t in enumerate(types) if t == "dropout"]
    assert len(drops) == 4 and all(spec[i]["rate"] == 0.3 for i in drops)
    assert [types[i - 1] for i in drops] == ["pool", "pool", "relu", "relu"]
    without = [l for l in spec if l["type"] != "dropout"]
    assert without == parse_spec(ladder.RUNGS["bn"].spec)


@pytest.mark.parametrize("name", list(ladder.RUNGS))
def test_rung_parameter_count_equals_built_network(name):
    spec = ladder.RUNGS[name].config()["spec"]
    net = build_cnn(spec)
    net.initialize(mx.init.Xavier())
    out = net(mx.nd.zeros((2, 1, 28, 28)))
    assert out.shape == (2, 10)
    built = sum(p.data().size for p in net.collect_params().values())
    assert summary(spec, print_fn=None).total_params == built


def test_unknown_rung_suggests_the_right_name():
    with pytest.raises(ValueError, match="did you mean 'dropout'"):
        ladder.get_rungs("dropuot")


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    y = np.arange(200) % 10
    x = rng.integers(0, 60, size=(200, 28, 28)).astype(np.uint8)
    x[np.arange(200), y * 2, :] = 255  # a learnable stripe per class
    return (x[:150], y[:150]), (x[150:], y[150:])


def _tiny_rung(epochs=4):
    return ladder.Rung("bn", [{"type": "conv", "channels": 4, "kernel": 3}, {"type": "bn"},
                              {"type": "relu"}, {"type": "pool", "size": 2},
                              {"type": "dropout", "rate": 0.3}, {"type": "dense", "units": 10}],
                       "adam", 1e-2, epochs=epochs, batch_size=32)


def _final_params(out):
    folder = ladder.rung_dir(out, "bn", 0)
    with open(os.path.join(folder, "result.json")) as f:
        result = json.load(f)
    net = build_cnn(result["config"]["spec"])
    net.load_parameters(os.path.join(folder, "checkpoint", "last.params"))
    return result, [v.data().asnumpy() for v in net.collect_params().values()]


def test_interrupted_rung_resumes_to_the_same_result(tmp_path, tiny_data, monkeypatch):
    train, test = tiny_data
    rung = _tiny_rung()
    # An uninterrupted run.
    ladder.run_rung(rung, train, test, str(tmp_path / "a"), verbose=False)
    # A run "interrupted" after epoch 2: fit gets as far as its epoch-2 checkpoint, then Ctrl-C.
    real_fit = ladder.fit

    def fit_then_interrupt(*args, **kwargs):
        real_fit(*args, **dict(kwargs, epochs=2))
        raise KeyboardInterrupt

    monkeypatch.setattr(ladder, "fit", fit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ladder.run_rung(rung, train, test, str(tmp_path / "b"), verbose=False)
    assert not os.path.exists(os.path.join(ladder.rung_dir(str(tmp_path / "b"), "bn", 0), "result.json"))
    monkeypatch.setattr(ladder, "fit", real_fit)
    ladder.run_rung(rung, train, test, str(tmp_path / "b"), verbose=False)

    (ra, pa), (rb, pb) = _final_params(str(tmp_path / "a")), _final_params(str(tmp_path / "b"))
    assert len(rb["history"]["epochs"]) == 4
    assert rb["best_val_accuracy"] == pytest.approx(ra["best_val_accuracy"])
    assert len(pa) == len(pb) == 8  # conv w, b; bn gamma, beta, mean, var; dense w, b
    for a, b in zip(pa, pb):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_finished_rung_is_skipped_and_other_settings_refused(tmp_path, tiny_data, monkeypatch):
    train, test = tiny_data
    out = str(tmp_path)
    first = ladder.run_rung(_tiny_rung(epochs=1), train, test, out, verbose=False)
    monkeypatch.setattr(ladder, "fit", lambda *a, **k: pytest.fail("a finished rung was retrained"))
    assert ladder.run_rung(_tiny_rung(epochs=1), train, test, out, verbose=False) == first
    with pytest.raises(ValueError, match="epochs"):
        ladder.run_rung(_tiny_rung(epochs=3), train, test, out, verbose=False)


def test_report_files_from_finished_rungs(tmp_path, tiny_data):
    train, test = tiny_data
    out = str(tmp_path)
    ladder.run_rung(_tiny_rung(epochs=2), train, test, out, seed=0, verbose=False)
    ladder.run_rung(_tiny_rung(epochs=2), train, test, out, seed=1, verbose=False)
    report = ladder.write_report(out, command="pytest")
    for name in ("results.json", "results.md", "curves_bn.png", "ladder_val_accuracy.png",
                 "best_vs_seed.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    s = report["summary"]["bn"]
    assert s["seeds"] == [0, 1] and s["seed_reference"] == 93.31
    halves = [[100 * e["val_accuracy"] for e in r["history"]["epochs"]][1:] for r in report["runs"]["bn"]]
    assert s["last_half_val_accuracy_mean"] == pytest.approx(sum(h[0] for h in halves) / 2)
    assert s["last_half_val_accuracy_sd"] == 0.0  # one epoch in each last half
    finals = [100 * r["final_val_accuracy"] for r in report["runs"]["bn"]]
    assert s["final_val_accuracy_mean"] == pytest.approx(sum(finals) / 2)
    assert s["final_val_accuracy_std"] == pytest.approx(abs(finals[0] - finals[1]) / 2 ** 0.5)
    md = open(os.path.join(out, "results.md")).read()
    row = next(line for line in md.splitlines() if line.startswith("| bn |"))
    assert row.count("±") == 2 and "93.31" in row  # best and final: mean ± std over the seeds
    assert "%.2f ± %.2f" % (s["final_val_accuracy_mean"], s["final_val_accuracy_std"]) in row
    seed_rows = [line for line in md.splitlines() if line.startswith("| bn | ")][1:]
    assert len(seed_rows) == 2  # the per-seed table: one row per run
    for line, r, h in zip(seed_rows, report["runs"]["bn"], halves):
        assert line.startswith("| bn | %d | %.2f | %d | %.2f ± 0.00 | %.2f |" % (
            r["seed"], 100 * r["best_val_accuracy"], r["best_epoch"], h[0],
            100 * r["final_val_accuracy"]))
    with open(os.path.join(out, "results.json")) as f:
        assert json.load(f)["summary"]["bn"]["best_val_accuracy_mean"] == pytest.approx(
            s["best_val_accuracy_mean"])


def test_sigterm_stops_cleanly_and_the_same_command_resumes(idx_dir, tmp_path):
    """The command itself: SIGTERM (like Ctrl-C) mid-rung exits 130, leaves a whole checkpoint
    and a report; running the same command again finishes the rung."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(os.path.dirname(__file__), "..", "examples", "ablation.py"),
           "--rungs", "bn", "--epochs", "60", "--out", str(out), "--quiet"]
    env = dict(os.environ, FMNIST_GLUON_DATA=str(idx_dir))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoint = out / "rungs" / "bn" / "seed-0" / "checkpoint" / "checkpoint.json"
    deadline = time.time() + 120
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"run the same command again" in err
    assert (out / "results.md").exists()
    recorded = json.loads((out / "results.json").read_text())["command"]
    assert recorded == "python examples/ablation.py --rungs bn --epochs 60 --out %s --quiet" % out
    assert not (out / "rungs" / "bn" / "seed-0" / "result.json").exists()
    stopped_at = json.loads(checkpoint.read_text())["epoch"]
    assert 1 <= stopped_at < 60

    done = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads((out / "rungs" / "bn" / "seed-0" / "result.json").read_text())
    assert [r["epoch"] for r in result["history"]["epochs"]] == list(range(1, 61))
    assert "| bn | 60 |" in (out / "results.md").read_text()


def test_ladder_command_lists_rungs_and_rejects_unknown_ones(capsys):
    from fmnist_gluon import cli

    assert cli.main(["ladder", "--list"]) == 0
    listed = capsys.readouterr().out.split("\n")
    assert [line.split()[0] for line in listed if line] == list(ladder.RUNGS)
    assert cli.main(["ladder", "--rungs", "bn,dropuot"]) == 2
    assert "did you mean 'dropout'" in capsys.readouterr().err


def test_report_only_rebuilds_and_keeps_the_command(tmp_path, tiny_data, capsys):
    from fmnist_gluon import cli

    train, test = tiny_data
    out = str(tmp_path)
    ladder.run_rung(_tiny_rung(epochs=1), train, test, out, verbose=False)
    ladder.write_report(out, command="python examples/ablation.py --rungs bn")
    os.remove(os.path.join(out, "results.md"))
    assert cli.main(["ladder", "--report", "--out", out]) == 0
    md = open(os.path.join(out, "results.md")).read()
    assert "python examples/ablation.py --rungs bn" in md and "| bn | 1 |" in md


def test_a_rung_trained_by_another_process_is_skipped(tmp_path, tiny_data, capsys, monkeypatch):
    fcntl = pytest.importorskip("fcntl")
    train, test = tiny_data
    out = str(tmp_path)
    folder = ladder.rung_dir(out, "bn", 0)
    os.makedirs(folder)
    with open(os.path.join(folder, ".lock"), "a+") as held:  # "another process" holds the rung
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ladder.RungBusy, match="another process"):
            ladder.run_rung(_tiny_rung(epochs=1), train, test, out, verbose=False)
        assert not os.path.exists(os.path.join(folder, "checkpoint"))
        monkeypatch.setattr(ladder, "load_ladder_data", lambda **kw: (train, test, None))
        ladder.run_ladder([_tiny_rung(epochs=1)], out=out, verbose=False)
        assert "skipping" in capsys.readouterr().err
    ladder.run_rung(_tiny_rung(epochs=1), train, test, out, verbose=False)  # free again
    assert os.path.exists(os.path.join(folder, "result.json"))


def test_recipe_rungs_train_their_presets_written_pool_first():
    from fmnist_gluon import PRESETS, pool_before_activation

    for name in ("fast", "best-small", "best"):
        rung = ladder.RUNGS[name]
        spec = rung.config()["spec"]
        assert spec == PRESETS[name] and rung.reference is None
        assert pool_before_activation(spec) == spec  # already in the faster, equivalent order
        assert (rung.optimizer, rung.optimizer_params) == ("nag", {"momentum": 0.9})
        assert rung.lr_scheduler["type"] == "cosine"
    macs = [summary(name, print_fn=None).total_macs for name in ("fast", "best-small", "best")]
    assert macs == sorted(macs) and ladder.RUNGS["fast"].epochs < ladder.RUNGS["best"].epochs
    assert ladder.RUNGS["best"].tta == "flip"


def test_label_smoothing_enters_a_rung_config_only_when_set():
    # folders written before the field existed (docs/results/full) keep matching their rungs
    assert "label_smoothing" not in ladder.RUNGS["bn"].config()
    assert ladder.RUNGS["fast"].config()["label_smoothing"] == 0.1


def test_a_rung_with_tta_scores_its_final_network_with_it(tmp_path, tiny_data):
    train, test = tiny_data
    out = str(tmp_path)
    rung = dataclasses.replace(_tiny_rung(epochs=2), tta="flip")
    assert rung.config()["tta"] == "flip" and "tta" not in _tiny_rung().config()
    for seed in (0, 1):
        ladder.run_rung(rung, train, test, out, seed=seed, verbose=False)
    report = ladder.write_report(out, command="pytest")
    want = []
    for seed in (0, 1):
        folder = ladder.rung_dir(out, "bn", seed)
        net = build_cnn(rung.config()["spec"])
        net.load_parameters(os.path.join(folder, "checkpoint", "last.params"))
        want.append(100 * evaluate(net, test, tta="flip")["accuracy"])
    s = report["summary"]["bn"]
    assert s["tta"] == "flip"
    assert s["final_val_accuracy_tta"] == pytest.approx(want)
    md = open(os.path.join(out, "results.md")).read()
    assert "(tta='flip'): val acc %.2f ± " % (sum(want) / 2) in md
    assert "per seed: %.2f, %.2f" % tuple(want) in md


def test_a_rung_with_an_unknown_tta_fails_before_training(tmp_path, tiny_data, monkeypatch):
    monkeypatch.setattr(ladder, "fit", lambda *a, **k: pytest.fail("trained before the check"))
    rung = dataclasses.replace(_tiny_rung(epochs=1), tta="mirror")
    with pytest.raises(ValueError, match="tta: expected None or one of"):
        ladder.run_rung(rung, *tiny_data, str(tmp_path), verbose=False)


def test_a_report_names_the_machines_the_runs_trained_on(tmp_path, tiny_data, monkeypatch):
    train, test = tiny_data
    out = str(tmp_path)
    monkeypatch.setattr(ladder, "machine_info", lambda: {"cpu": "A"})
    ladder.run_rung(_tiny_rung(epochs=1), train, test, out, seed=0, verbose=False)
    monkeypatch.setattr(ladder, "machine_info", lambda: {"cpu": "B"})
    assert ladder.write_report(out)["machine"] == {"cpu": "A"}  # rebuilt on B, trained on A
    ladder.run_rung(_tiny_rung(epochs=1), train, test, out, seed=1, verbose=False)
    assert ladder.write_report(out)["machine"] == [{"cpu": "A"}, {"cpu": "B"}]
    assert "Machine: cpu A; cpu B" in open(os.path.join(out, "results.md")).read()
    # a result from before results carried their machine: the previous report's is kept
    path = os.path.join(ladder.rung_dir(out, "bn", 1), "result.json")
    with open(path) as f:
        result = json.load(f)
    del result["machine"]
    with open(path, "w") as f:
        json.dump(result, f)
    os.remove(os.path.join(ladder.rung_dir(out, "bn", 0), "result.json"))
    monkeypatch.setattr(ladder, "machine_info", lambda: {"cpu": "C"})
    assert ladder.write_report(out)["machine"] == [{"cpu": "A"}, {"cpu": "B"}]
