"""train / evaluate / predict / export from the command line, on tiny synthetic IDX data, and
the rule that only input errors found before the work starts are usage errors (exit 2)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fmnist_gluon import cli, runs
from fmnist_gluon.images import load_images
from fmnist_gluon.train import History, evaluate, predict

from conftest import write_signal_idx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = "conv4k3-bn-relu-pool2-dense10"


@pytest.fixture
def data(tmp_path, monkeypatch):
    """Learnable synthetic Fashion-MNIST-shaped files (100 train, 40 test), as $FMNIST_GLUON_DATA."""
    folder = write_signal_idx(tmp_path / "data", 100, 40)
    monkeypatch.setenv("FMNIST_GLUON_DATA", str(folder))
    return folder


def run(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def train(capsys, out, *extra, spec=SPEC):
    return run(capsys, "train", spec, "--epochs", 1, "--batch-size", 16, "--out", out,
               "--progress", "lines", *extra)


@pytest.fixture
def trained(data, tmp_path, capsys):
    out = tmp_path / "run"
    status, text, err = train(capsys, out)
    assert status == 0, err
    return out


def test_train_writes_a_complete_run_folder(trained):
    for name in ("config.json", "spec.json", "model.params", "history.json", "history.csv",
                 "curves.png", "checkpoint/checkpoint.json"):
        assert (trained / name).is_file(), name
    config = json.loads((trained / "config.json").read_text())
    assert config["spec"] == json.loads((trained / "spec.json").read_text())
    assert config["spec"][-1] == {"type": "dense", "units": 10}
    assert config["training"]["optimizer"] == "adam" and config["training"]["epochs"] == 1
    assert config["data"] == {"seed": 0, "train_size": 100, "test_size": 40}
    assert len(config["classes"]) == 10 and "train" in config["command"]
    history = History.load(str(trained / "history.json"))
    assert [row["epoch"] for row in history.epochs] == [1]
    assert History.load(str(trained / "history.csv")).epochs[0]["val_accuracy"] == \
        pytest.approx(history.epochs[0]["val_accuracy"])


def test_a_rung_name_brings_its_training_settings(data, tmp_path, capsys):
    out = tmp_path / "fast"
    status, _, err = run(capsys, "train", "fast", "--epochs", 1, "--out", out, "--progress",
                         "none", "--train-size", 50, "--test-size", 20)
    assert status == 0, err
    config = json.loads((out / "config.json").read_text())
    t = config["training"]
    assert config["rung"] == "fast" and t["optimizer"] == "nag" and t["lr"] == 0.1
    assert t["optimizer_params"] == {"momentum": 0.9} and t["label_smoothing"] == 0.1
    assert t["augment"] == "flip" and t["lr_scheduler"]["type"] == "cosine"
    assert config["data"]["train_size"] == 50 and config["data"]["test_size"] == 20
    # another optimizer drops the rung's momentum; "none" turns its schedule off
    plan = runs.plan_run("fast", str(tmp_path / "other"), optimizer="adam", lr_scheduler="none")
    assert plan.config["training"]["optimizer_params"] == {}
    assert plan.config["training"]["lr_scheduler"] is None


def test_train_resumes_an_interrupted_run(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real_fit = runs.fit

    def one_epoch_then_interrupt(*args, **kwargs):
        real_fit(*args, **dict(kwargs, epochs=1))
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "fit", one_epoch_then_interrupt)
    status, _, err = train(capsys, out, "--epochs", 2)
    assert status == 130 and "run the same command again to resume" in err
    assert not (out / "model.params").exists()  # an unfinished run has no final weights
    status, _, err = run(capsys, "evaluate", out)
    assert status == 2 and "training has not finished" in err
    monkeypatch.setattr(runs, "fit", real_fit)
    status, text, err = train(capsys, out, "--epochs", 2)
    assert status == 0, err
    assert "resumed from %s after epoch 1" % (out / "checkpoint") in text
    assert "epoch 1/2" not in text and "epoch 2/2" in text  # only the missing epoch ran
    assert [r["epoch"] for r in History.load(str(out / "history.json")).epochs] == [1, 2]


def test_a_folder_holding_another_run_is_refused_before_training(trained, capsys):
    before = (trained / "model.params").read_bytes()
    status, out, err = train(capsys, trained, "--lr", "0.01")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "holds another run" in err and "training.lr was 0.001, now 0.01" in err
    assert (trained / "model.params").read_bytes() == before


def test_evaluate_prints_and_writes_the_scores(trained, capsys):
    status, out, err = run(capsys, "evaluate", trained)
    assert status == 0, err
    saved = json.loads((trained / "evaluation.json").read_text())
    run_ = runs.load_run(str(trained))
    x, y = runs.load_test_data()[0]
    expected = evaluate(run_.net, (x, y))
    assert saved["accuracy"] == pytest.approx(expected["accuracy"])
    # evaluate's loss comes from the logits, evaluate_run's from float32 probabilities: the
    # same cross-entropy up to float32 rounding of the probabilities (~1e-7 relative each)
    assert saved["loss"] == pytest.approx(expected["loss"], rel=1e-4)
    assert "accuracy %.2f%%" % (100 * expected["accuracy"]) in out
    _, pred = predict(run_.net, x)
    for k, name in enumerate(run_.classes):
        acc = float(np.mean(pred[y == k] == k))
        assert saved["per_class_accuracy"][name] == pytest.approx(acc)
        assert "%s  %6.2f%%" % (name.ljust(11), 100 * acc) in out
    assert (trained / "confusion_matrix.png").stat().st_size > 1000
    status, out, _ = run(capsys, "evaluate", trained, "--tta", "flip", "--json")
    assert status == 0 and json.loads(out)["tta"] == "flip"
    assert (trained / "confusion_matrix-tta-flip.png").is_file()


def _photo(image, path, size=(90, 120)):
    """A Fashion-MNIST image as a user would have it: dark on white, larger, colour."""
    big = Image.fromarray(255 - image).resize(size, Image.BICUBIC).convert("RGB")
    canvas = Image.new("RGB", (size[0] + 40, size[1] + 20), "white")
    canvas.paste(big, (20, 10))
    canvas.save(path)
    return path


def test_predict_classifies_image_files(trained, tmp_path, capsys):
    x, y = runs.load_test_data()[0]
    paths = [_photo(x[0], tmp_path / "a.png"), _photo(x[3], tmp_path / "b.jpg")]
    status, out, err = run(capsys, "predict", trained, *paths, "--json")
    assert status == 0, err
    rows = json.loads(out)
    probs, labels = predict(runs.load_run(str(trained)).net, load_images(paths))
    classes = runs.load_run(str(trained)).classes
    for row, p, label, path in zip(rows, probs, labels, paths):
        assert row["image"] == str(path) and row["class"] == classes[label]
        assert row["top"][0][1] == pytest.approx(float(p.max()), abs=1e-6)
        assert [q for _, q in row["top"]] == sorted((q for _, q in row["top"]), reverse=True)
    status, out, _ = run(capsys, "predict", trained, paths[0], "--top", 2)
    assert status == 0 and out.startswith("%s: %s " % (paths[0], rows[0]["class"]))
    assert out.count("%") == 2


def test_export_mxnet_loads_back_with_the_same_outputs(trained, capsys):
    import mxnet as mx

    status, out, err = run(capsys, "export", trained, "--format", "mxnet")
    assert status == 0, err
    prefix = trained / "export" / "model"
    block = mx.gluon.SymbolBlock.imports(str(prefix) + "-symbol.json", ["data"],
                                         str(prefix) + "-0000.params")
    x = runs.load_test_data()[0][0]
    probs, _ = predict(runs.load_run(str(trained)).net, x)
    theirs = mx.nd.softmax(block(mx.nd.array(x[:, None] / 255.0))).asnumpy()
    np.testing.assert_allclose(theirs, probs, atol=1e-5)
    assert not [n for n in os.listdir(trained / "export") if n.startswith(".")]


def test_onnx_export_gives_predict_s_classes(trained, tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    x = runs.load_test_data()[0][0]
    paths = [_photo(x[i], tmp_path / ("%d.png" % i)) for i in range(6)]
    status, out, err = run(capsys, "export", trained, "--format", "onnx")
    assert status == 0 and out == "wrote %s\n" % (trained / "export" / "model.onnx"), err
    mxnet_rows = json.loads(run(capsys, "predict", trained, *paths, "--json")[1])
    status, out, err = run(capsys, "predict", trained, *paths, "--json", "--onnx")
    assert status == 0, err
    onnx_rows = json.loads(out)
    assert [r["class"] for r in onnx_rows] == [r["class"] for r in mxnet_rows]
    for a, b in zip(onnx_rows, mxnet_rows):
        assert a["top"][0][1] == pytest.approx(b["top"][0][1], abs=1e-5)


def test_help_of_every_verb_has_an_example():
    parser = cli.build_parser()
    for name in ("train", "evaluate", "predict", "export"):
        sub = parser._subparsers._group_actions[0].choices[name]
        text = sub.format_help()
        assert "example:" in text and "fmnist-gluon %s " % name in text
    predict_help = parser._subparsers._group_actions[0].choices["predict"].format_help()
    assert "inverted when the border is light" in " ".join(predict_help.split())


@pytest.mark.parametrize("argv, fragment", [
    (["train", "conv8k3-rleu", "--out", "{tmp}/x"], "did you mean 'relu'?"),
    (["train", SPEC, "--optimizer", "adamm", "--out", "{tmp}/x"], "optimizer: unknown name"),
    (["train", SPEC, "--aug", "flop", "--out", "{tmp}/x"], "flop"),
    (["train", SPEC, "--ctx", "tpu", "--out", "{tmp}/x"], "ctx"),
    (["evaluate", "{tmp}/nothing"], "run folder {tmp}/nothing not found"),
    (["evaluate", "{tmp}"], "has no config.json"),
    (["predict", "{run}", "{tmp}/missing.png"], "missing.png: no such file"),
    (["predict", "{run}", "{run}/config.json"], "config.json: not a readable image"),
    (["predict", "{run}", "{run}/config.json", "--onnx"], "not a readable image"),
])
def test_input_errors_are_one_line_and_exit_2(trained, tmp_path, capsys, argv, fragment):
    fill = lambda s: s.format(tmp=tmp_path, run=trained)  # noqa: E731
    status, out, err = run(capsys, *map(fill, argv))
    assert status == 2 and out == "", err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert fill(fragment) in err
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_a_failure_during_training_keeps_its_traceback(data, tmp_path, capsys, monkeypatch):
    def broken_fit(*args, **kwargs):
        raise ValueError("a bug deep inside training")

    monkeypatch.setattr(runs, "fit", broken_fit)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="a bug deep inside training"):
        cli.main(["train", SPEC, "--out", str(out), "--epochs", "1"])
    err = capsys.readouterr().err
    assert "training failed (not an input error" in err and str(out / "error.log") in err
    log = (out / "error.log").read_text()
    assert "Traceback" in log and "ValueError: a bug deep inside training" in log


def test_console_failure_after_the_checks_exits_1_with_a_traceback(data, tmp_path):
    code = ("import sys; from fmnist_gluon import cli, runs\n"
            "def boom(*a, **k): raise ValueError('a bug deep inside training')\n"
            "runs.fit = boom\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", code, "train", SPEC, "--out",
                           str(tmp_path / "run"), "--epochs", "1"], cwd=REPO,
                          capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, FMNIST_GLUON_DATA=str(data)))
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert "ValueError: a bug deep inside training" in proc.stderr
    assert "error: " not in proc.stderr.splitlines()[-1]
