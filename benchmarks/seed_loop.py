#!/usr/bin/env python
"""Train a seed ladder rung with the seed's own pipeline, to tell our numbers from the seed's.

Issue 5 asks why the ladder lands below the seed post. This script removes fmnist_gluon's
training code from the comparison: it trains the rung's network with the seed notebook's loop
(``seed_pipeline.py``, the one ``bench_epoch.py`` times for one epoch): an ``ArrayDataset`` with the per-sample
``transform`` through a shuffled ``DataLoader`` of 128, the network never hybridized, Xavier
magnitude 2.24, ``gluon.Trainer`` with the rung's optimizer, learning rate and wd 1e-6,
``trainer.step(data.shape[0])``, and the seed's argmax accuracy on the test set after every
epoch. Only the layers come from ``build_cnn(rung.spec)``: the same Gluon blocks the seed's
``nn.Sequential`` held (a ``HybridSequential`` that is not hybridized runs imperatively).

    python benchmarks/seed_loop.py bn --seed 1 --out runs/seed-loop/bn-seed-1.json
    python benchmarks/seed_loop.py adam --epochs 5 --train-size 5000   # a short look

The seed also ran an accuracy pass over the training set every epoch. It does not change the
network (prediction mode: no BatchNorm statistics, no dropout), only the random stream of the
next shuffles, so it is off unless ``--train-accuracy`` is given. The JSON (written atomically
after every epoch, so an interrupted run keeps its epochs) holds the settings and the test
accuracy of every epoch; the last line printed is the summary: best (epoch), final, and the
mean ± sd of the last half of the epochs.

``--replay DIR`` asks whether another MXNet computes the same thing. It runs a few full-batch
steps of the loop from weights and a batch saved in DIR, once per MXNet (each in its own
environment, e.g. the 2018 release 1.3.1, whose wheel still installs on Python 3.11 with
``pip install --no-deps``), and prints how far the final weights and outputs differ:

    python benchmarks/seed_loop.py bn --replay runs/replay/bn --steps 3
    MXNET_MKLDNN_ENABLED=0 python benchmarks/seed_loop.py bn --replay runs/replay/bn --steps 3
    /tmp/mx13/bin/python benchmarks/seed_loop.py bn --replay runs/replay/bn --steps 3
"""
import argparse
import dataclasses
import json
import os
import random
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))  # run from a checkout without installing the package

from seed_pipeline import seed_accuracy, seed_dataset, seed_train_pass  # noqa: E402
from fmnist_gluon import build_cnn, load_dataset  # noqa: E402
from fmnist_gluon.ladder import RUNGS, SEED_LADDER  # noqa: E402
from fmnist_gluon.ladder import epoch_summary as summarise  # noqa: E402
from fmnist_gluon.utils import atomic_path, atomic_write_text  # noqa: E402

import mxnet as mx  # noqa: E402
from mxnet import gluon  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("rung", choices=SEED_LADDER, help="a rung of the seed's ladder")
    p.add_argument("--epochs", type=int, help="default: the rung's (50 or 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-size", type=int, help="train on the first N images (default: all)")
    p.add_argument("--train-accuracy", action="store_true",
                   help="also run the seed's accuracy pass over the training set each epoch")
    p.add_argument("--out", help="JSON file for the settings and per-epoch accuracies")
    p.add_argument("--replay", metavar="DIR",
                   help="instead of training: --steps full-batch steps of the seed loop from "
                        "DIR/init.params on DIR/batch.npz (both made on first use); saves the "
                        "weights and outputs as DIR/mxnet-<version>.npz and compares them with "
                        "the other versions' files there")
    p.add_argument("--steps", type=int, default=5, help="steps for --replay (default: 5)")
    return p.parse_args(argv)


def train(rung, train_set, test_set, epochs, seed, train_accuracy=False, ctx=None, report=None,
          net=None):
    """The seed's loop for ``epochs`` epochs; calls ``report(record)`` after every epoch.

    ``net``: an initialised network to train instead of a fresh ``build_cnn(rung.spec)`` (the
    tests give ``fit`` and this loop the same starting weights).
    """
    ctx = ctx or mx.cpu()
    random.seed(seed)
    np.random.seed(seed)  # the DataLoader's shuffle
    mx.random.seed(seed)  # the initial weights and dropout masks
    train_data = gluon.data.DataLoader(seed_dataset(*train_set), rung.batch_size, shuffle=True)
    test_data = gluon.data.DataLoader(seed_dataset(*test_set), rung.batch_size, shuffle=False)
    if net is None:
        net = build_cnn(rung.spec)
        net.collect_params().initialize(mx.init.Xavier(magnitude=rung.init_magnitude), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), rung.optimizer,
                            {"learning_rate": rung.lr, "wd": rung.wd})
    record = {"test_accuracy": [], "train_accuracy": [], "seconds": []}
    for _ in range(epochs):
        tic = time.perf_counter()
        seed_train_pass(net, trainer, train_data, ctx)
        if train_accuracy:
            record["train_accuracy"].append(seed_accuracy(train_data, net, ctx))
        record["test_accuracy"].append(seed_accuracy(test_data, net, ctx))
        record["seconds"].append(time.perf_counter() - tic)
        if report:
            report(record)
    return record


def replay(rung, folder, steps, seed=0, n_train=512, n_test=1000):
    """The seed loop's first ``steps`` full-batch steps from saved weights and data.

    Run once per MXNet version (each in its own environment) on one folder: the first run saves
    the initial weights and the batch, every run saves its final weights and the prediction-mode
    outputs on test images, and the differences between the versions are printed. Returns them.
    """
    os.makedirs(folder, exist_ok=True)
    init, batch = os.path.join(folder, "init.params"), os.path.join(folder, "batch.npz")
    if not os.path.exists(batch):
        tr, te = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
        with atomic_path(batch) as tmp:
            np.savez(tmp, rung=rung.name, x=tr.images[:n_train], y=tr.labels[:n_train],
                     xt=te.images[:n_test], yt=te.labels[:n_test])
    data = np.load(batch)
    if str(data["rung"]) != rung.name:
        raise ValueError("%s holds a replay of the %s rung, not %s; give each rung its own folder"
                         % (folder, data["rung"], rung.name))
    net = build_cnn(rung.spec)
    if not os.path.exists(init):
        mx.random.seed(seed)
        net.initialize(mx.init.Xavier(magnitude=rung.init_magnitude))
        net(mx.nd.array(data["x"][:1, None] / 255.0))
        with atomic_path(init) as tmp:
            net.save_parameters(tmp)
    net.load_parameters(init)
    full_batch = dataclasses.replace(rung, batch_size=len(data["y"]))
    train(full_batch, (data["x"], data["y"]), (data["xt"], data["yt"]), steps, seed, net=net)
    result = {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}
    result["outputs"] = net(mx.nd.array(data["xt"][:, None] / 255.0)).asnumpy()
    mine = os.path.join(folder, "mxnet-%s.npz" % _backend())
    with atomic_path(mine) as tmp:
        np.savez(tmp, **result)
    return {f: _differences(result, np.load(os.path.join(folder, f)))
            for f in sorted(os.listdir(folder))
            if f.startswith("mxnet-") and f.endswith(".npz") and f != os.path.basename(mine)}


def _backend():
    """MXNet's version, and whether MKL-DNN is switched off (its kernels sum in another order)."""
    off = os.environ.get("MXNET_MKLDNN_ENABLED") == "0"
    return mx.__version__ + ("-no-mkldnn" if off else "")


def _differences(a, b):
    """Largest absolute difference per array, relative to the array's largest value; and the
    share of test images given the same class ("agree")."""
    diffs = {k: float(np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-12)) for k in a}
    diffs["agree"] = float(np.mean(a["outputs"].argmax(1) == b["outputs"].argmax(1)))
    return diffs


def print_replay(a):
    """--replay: one line per other MXNet in the folder."""
    for other, diffs in replay(RUNGS[a.rung], a.replay, a.steps, a.seed).items():
        weights = {k: v for k, v in diffs.items() if k not in ("outputs", "agree")}
        worst = max(weights, key=weights.get)
        print("%s rung, %d steps, mxnet %s vs %s: weights %.1e (largest, in %s), "
              "outputs %.1e, same prediction for %.1f%% of test images"
              % (a.rung, a.steps, _backend(), other[len("mxnet-"):-len(".npz")],
                 weights[worst], worst, diffs["outputs"], 100 * diffs["agree"]))


def main(argv=None):
    a = parse_args(argv)
    if a.replay:
        return print_replay(a)
    rung = RUNGS[a.rung]
    epochs = a.epochs or rung.epochs
    train_set, test_set = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    n = a.train_size or len(train_set.labels)
    settings = {"rung": a.rung, "epochs": epochs, "seed": a.seed, "train_size": n,
                "optimizer": rung.optimizer, "lr": rung.lr, "wd": rung.wd,
                "init_magnitude": rung.init_magnitude, "batch_size": rung.batch_size,
                "mxnet": mx.__version__,
                "command": " ".join(["python", "benchmarks/seed_loop.py"]
                                    + list(sys.argv[1:] if argv is None else argv))}

    def report(record):
        e = len(record["test_accuracy"])
        print("epoch %d/%d  test %.4f%s  %.0f s" % (
            e, epochs, record["test_accuracy"][-1],
            "  train %.4f" % record["train_accuracy"][-1] if record["train_accuracy"] else "",
            record["seconds"][-1]), flush=True)
        if a.out:
            atomic_write_text(a.out, json.dumps(dict(settings, **record), indent=1))

    record = train(rung, (train_set.images[:n], train_set.labels[:n]),
                   (test_set.images, test_set.labels), epochs, a.seed, a.train_accuracy,
                   report=report)
    s = summarise(record["test_accuracy"])
    print("%s seed %d, %d epochs: best %.2f (epoch %d), final %.2f, last half %.2f ± %.2f"
          % (a.rung, a.seed, epochs, 100 * s["best"], s["best_epoch"], 100 * s["final"],
             100 * s["last_half_mean"], 100 * s["last_half_sd"]), flush=True)
    return record


if __name__ == "__main__":
    main()
