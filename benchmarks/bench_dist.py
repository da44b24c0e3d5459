#!/usr/bin/env python
"""Data-parallel training speed: 1 and 2 dist_sync worker processes against one plain process.

Each measurement is one ``fmnist-gluon`` command in a fresh process tree, training the
baseline network (the seed's) on a stratified subset of the real training set, with a pass
over test images every epoch:

* ``1 process``:  ``fmnist-gluon train`` on its defaults (one OpenMP thread per core);
* ``W workers``:  ``fmnist-gluon launch -n W --worker-threads 1 -- train ...``: W worker
  processes of one thread each (one core each), a scheduler and a server beside them.

The scaling efficiency is per worker of one thread: images/s of W workers / (W x images/s of
1 worker). On a machine with as many cores as workers it says what the gradient exchange and
the extra processes cost; it does not measure a network between machines.

The figure is training images per second of the last epoch, as every worker saw it summed
(History's ``images_per_sec``), and the wall time of the whole command (process start-up
included). Variants alternate for ``--rounds`` rounds; medians are printed with the machine
and the load average, since the machine may be shared.

    python benchmarks/bench_dist.py                      # 12,800 images, 2 epochs, 3 rounds
    python benchmarks/bench_dist.py --train-size 2560 --epochs 1 --rounds 1   # a quick look
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from machine import loadavg, machine

VARIANTS = (("1 process", None), ("1 worker", 1), ("2 workers", 2))


def measure(workers, args, out):
    """(training images/s of the last epoch, wall seconds) of one command."""
    train = ["train", "baseline", "--epochs", str(args.epochs), "--train-size",
             str(args.train_size), "--test-size", str(args.test_size), "--out", out,
             "--progress", "none", "--batch-size", str(args.batch_size)]
    cmd = [sys.executable, "-m", "fmnist_gluon"]
    cmd += train if workers is None else (["launch", "-n", str(workers), "--worker-threads", "1",
                                           "--"] + train)
    tic = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - tic
    with open(os.path.join(out, "history.json")) as f:
        history = json.load(f)
    return history["epochs"][-1]["images_per_sec"], wall, history["meta"].get("workers", 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-size", type=int, default=12800)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    info = machine()
    print("Machine: %s, %s logical CPUs (%s cores/socket, %s threads/core), Python %s"
          % (info["cpu"], info["logical_cpus"], info["cores_per_socket"],
             info["threads_per_core"], info["python"]))
    print("Load average at start (1/5/15 min): %.2f %.2f %.2f" % loadavg())
    figures = {name: {"images_per_sec": [], "wall": []} for name, _ in VARIANTS}
    for r in range(args.rounds):
        for name, workers in VARIANTS:
            with tempfile.TemporaryDirectory() as out:
                ips, wall, seen = measure(workers, args, out)
            assert seen == (workers or 1), (name, seen)
            figures[name]["images_per_sec"].append(ips)
            figures[name]["wall"].append(wall)
            print("round %d  %-10s %7.0f images/s  %6.1f s wall  load %.2f"
                  % (r + 1, name, ips, wall, loadavg()[0]), flush=True)
    med = {name: {k: statistics.median(v) for k, v in f.items()} for name, f in figures.items()}
    one = med["1 worker"]["images_per_sec"]
    print("\nMedians of %d rounds; %d training images, %d test images, %d epochs, batch %d "
          "(the global batch)" % (args.rounds, args.train_size, args.test_size, args.epochs,
                                  args.batch_size))
    print("%-10s %12s %10s %12s" % ("variant", "images/s", "wall s", "efficiency"))
    for name, workers in VARIANTS:
        eff = ("%11.0f%%" % (100 * med[name]["images_per_sec"] / (workers * one))
               if workers else "%12s" % "-")
        print("%-10s %12.0f %10.1f %s" % (name, med[name]["images_per_sec"], med[name]["wall"],
                                          eff))
    print("efficiency: images/s of W workers / (W x images/s of 1 worker)")
    print("Load average at end (1/5/15 min): %.2f %.2f %.2f" % loadavg())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "args": vars(args), "rounds": figures, "medians": med},
                      f, indent=1)


if __name__ == "__main__":
    main()
