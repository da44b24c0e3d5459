#!/usr/bin/env python
"""Evaluation speed of the seed's baseline: ``fmnist_gluon.evaluate`` images/s on the 10,000 test
images by batch size, layer order (``pool_first``) and MXNet's MKL-DNN graph fusion for inference
(``net.optimize_for(x, backend="MKLDNN")``, which fuses a convolution with the ReLU after it).

All variants run in this one process (thread settings: fmnist_gluon's defaults unless set),
interleaved round by round; figures are medians. The network is trained for ``--train`` images
first, so the figures are for a network with real weights (the speed does not depend on them).

    python benchmarks/bench_eval.py                   # 3 rounds
    python benchmarks/bench_eval.py --rounds 1 --test-subset 2048   # smoke run
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import fmnist_gluon as fg  # noqa: E402  (first: thread defaults before MXNet loads)

import mxnet as mx  # noqa: E402


def variants(batches):
    """(label, pool_first, fuse, batch size) of every measured variant."""
    out = []
    for pool_first in (True, False):
        for fuse in (False, True):
            out.append((pool_first, fuse, 512))
    out += [(True, False, b) for b in batches if b != 512]
    return [("%s, %s, batch %d" % ("pool first" if p else "as written",
                                   "MKL-DNN fusion" if f else "hybridized", b), p, f, b)
            for p, f, b in out]


def make_net(pool_first, fuse, train):
    net = fg.build_cnn("baseline", pool_first=pool_first)
    fg.fit(net, train, epochs=1, lr=0.1, wd=1e-6, init_magnitude=2.24, seed=0, verbose=False)
    if fuse:
        net.optimize_for(mx.nd.zeros((512, 1, 28, 28)), backend="MKLDNN", static_alloc=True,
                         static_shape=True)
    return net


def run(rounds, test_subset, train_images, batches, out=print):
    train, test = fg.load_dataset(split="train"), fg.load_dataset(split="test")
    train = (train.images[:train_images], train.labels[:train_images])
    test = (test.images[:test_subset], test.labels[:test_subset])
    out("Threads: %s; load average at start %.2f %.2f %.2f"
        % (fg.threads.settings(), *os.getloadavg()))
    table = variants(batches)
    nets = {}
    for _, pool_first, fuse, _ in table:
        if (pool_first, fuse) not in nets:
            nets[(pool_first, fuse)] = make_net(pool_first, fuse, train)
    rates = {label: [] for label, *_ in table}
    accuracy = {}
    for _ in range(rounds):
        for label, pool_first, fuse, batch in table:
            net = nets[(pool_first, fuse)]
            fg.evaluate(net, (test[0][:batch], test[1][:batch]), batch_size=batch)  # warm-up
            tic = time.perf_counter()
            accuracy[label] = fg.evaluate(net, test, batch_size=batch)["accuracy"]
            rates[label].append(len(test[0]) / (time.perf_counter() - tic))
    out("fmnist_gluon.evaluate on %d test images, images/s, median of %d rounds" % (len(test[0]), rounds))
    for label, *_ in table:
        out("  %-44s %8.0f   [%s]  accuracy %.4f" % (label, statistics.median(rates[label]),
                                                     " ".join("%.0f" % r for r in rates[label]),
                                                     accuracy[label]))
    out("Load average at end %.2f %.2f %.2f" % os.getloadavg())
    return {label: statistics.median(v) for label, v in rates.items()}, accuracy


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--test-subset", type=int, default=10000)
    p.add_argument("--train", type=int, default=6400, help="training images before measuring")
    p.add_argument("--batches", default="256,1024,2000", help="other evaluation batch sizes")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b]
    if args.rounds < 1 or args.test_subset < 512 or args.train < 128 or min(batches, default=1) < 1:
        p.error("--rounds >= 1, --test-subset >= 512, --train >= 128, positive batch sizes")
    return run(args.rounds, args.test_subset, args.train, batches)


if __name__ == "__main__":
    main()
