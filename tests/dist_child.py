"""A process of tests/test_distributed.py: fit a small BatchNorm network on signal images.

    python tests/dist_child.py OUT [--kvstore dist_sync] [--contexts 2] [--epochs 2]
                                   [--lr 0.1] [--nudge SEED] [--checkpoint DIR]

Run as a worker of a job (``fmnist_gluon.launch``) with ``--kvstore dist_sync``, or alone on
one or two CPU contexts as the reference. Writes ``OUT/rank-R.npz`` (the start and final
parameters) and ``OUT/rank-R.json`` (the History's rows and meta, and how many checkpoints
this process wrote). ``FMNIST_TEST_KILL=RANK:EPOCH``: the worker of that rank kills itself
(a real SIGKILL) at the end of that epoch.
"""
import argparse
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fmnist_gluon  # noqa: E402,F401  (thread defaults first)
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import gluon  # noqa: E402

from conftest import signal_images  # noqa: E402
from fmnist_gluon import fit  # noqa: E402
from fmnist_gluon.train.callbacks import Callback  # noqa: E402
from fmnist_gluon.train.checkpoint import Checkpoint  # noqa: E402

TRAIN, VAL, BATCH = 64, 20, 16


def small_net():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, strides=2), gluon.nn.BatchNorm(), gluon.nn.Activation("relu"),
            gluon.nn.MaxPool2D(2), gluon.nn.Flatten(), gluon.nn.Dense(10))
    return net


def start_net(ctxs, nudge):
    """The common start (seed 0), optionally every weight one float32 ulp away at random."""
    net = small_net()
    mx.random.seed(0)
    net.initialize(mx.init.Xavier(magnitude=3.0), ctx=ctxs)
    net(mx.nd.zeros((1, 1, 28, 28), ctx=ctxs[0]))
    if nudge is not None:
        rng = np.random.default_rng(nudge)
        for p in net.collect_params().values():
            if p.grad_req != "null":
                w = p.data(ctxs[0]).asnumpy()
                w *= 1 + np.finfo(np.float32).eps * rng.choice([-1, 1], size=w.shape)
                p.set_data(mx.nd.array(w.astype(np.float32)))
    return net


def params(net):
    return {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}


class KillAt(Callback):
    """SIGKILL this worker at the end of ``epoch`` if its rank is ``rank``."""

    def __init__(self, rank, epoch):
        self.rank, self.epoch = rank, epoch

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch and self.history.meta.get("rank", 0) == self.rank:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--kvstore", default="device")
    parser.add_argument("--contexts", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--nudge", type=int)
    parser.add_argument("--checkpoint")
    args = parser.parse_args()
    ctxs = [mx.cpu(i) for i in range(args.contexts)]
    net = start_net(ctxs, args.nudge)
    start = params(net)
    saves = {"n": 0}
    save = Checkpoint.save

    def counted_save(self, *a, **k):
        saves["n"] += 1
        return save(self, *a, **k)
    Checkpoint.save = counted_save
    callbacks = []
    if os.environ.get("FMNIST_TEST_KILL"):
        rank, epoch = os.environ["FMNIST_TEST_KILL"].split(":")
        callbacks.append(KillAt(int(rank), int(epoch)))
    history = fit(net, signal_images(TRAIN, 0), val=signal_images(VAL, 1), epochs=args.epochs,
                  optimizer="sgd", lr=args.lr, batch_size=BATCH, ctx=ctxs, seed=5, verbose=False,
                  kvstore=args.kvstore, checkpoint_dir=args.checkpoint, callbacks=callbacks)
    rank = history.meta.get("rank", 0)
    os.makedirs(args.out, exist_ok=True)
    final = params(net)
    np.savez(os.path.join(args.out, "rank-%d.npz" % rank),
             **{"start/" + k: v for k, v in start.items()},
             **{"final/" + k: v for k, v in final.items()})
    rows = [{k: v for k, v in r.items() if k not in ("seconds", "images_per_sec")}
            for r in history.epochs]
    with open(os.path.join(args.out, "rank-%d.json" % rank), "w") as f:
        json.dump({"rows": rows, "meta": history.meta, "saves": saves["n"]}, f)


if __name__ == "__main__":
    main()
