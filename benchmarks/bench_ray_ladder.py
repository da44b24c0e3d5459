#!/usr/bin/env python
"""Ladder wall time on Ray: 4 small rungs x 2 seeds with 1 Ray worker against 2.

Each measurement starts a local Ray cluster of ``W`` CPUs (``ray.init(num_cpus=W)``, one CPU
and one OpenMP thread per task), runs the 8 (rung, seed) tasks into a fresh --out folder with
``ladder.run_ladder(..., executor="ray")`` and stops the cluster. Cluster start-up is timed
separately from the ladder. W = 1 and W = 2 alternate for ``--reps`` rounds; medians are
printed with the load average, since the machine may be shared.

    python benchmarks/bench_ray_ladder.py                 # 5000/1000 images, 2 epochs, 2 rounds
    python benchmarks/bench_ray_ladder.py --epochs 1 --reps 1 --train-size 1000
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep the cluster on loopback

import ray  # noqa: E402

from fmnist_gluon import ladder  # noqa: E402
from fmnist_gluon.data import load_dataset, train_val_split  # noqa: E402
from fmnist_gluon.utils import machine_info  # noqa: E402

SPECS = ("conv16k3p1-relu-pool2-dense10", "conv16k3p1-bn-relu-pool2-dense10",
         "conv16k3p1-bn-relu-pool2-dropout0.3-dense10", "conv16k3p1-bn-lrelu-pool2-dense10")


def rungs(epochs):
    return [ladder.Rung("small-%d" % i, spec, "adam", 1e-3, epochs=epochs)
            for i, spec in enumerate(SPECS)]


def measure(workers, data_root, args):
    """(cluster start seconds, ladder seconds) for one local cluster of ``workers`` CPUs."""
    tic = time.perf_counter()
    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        ladder.run_ladder(rungs(args.epochs), out=out, repeats=2, verbose=False,
                          executor="ray", root=data_root, quick=False)
    done = time.perf_counter()
    ray.shutdown()
    return started - tic, done - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--test-size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        write_subset(root, args.train_size, args.test_size)
        times = {1: [], 2: []}
        for rep in range(args.reps):
            for workers in (1, 2) if rep % 2 == 0 else (2, 1):
                start, wall = measure(workers, root, args)
                times[workers].append(wall)
                print("round %d, %d worker(s): ladder %.1f s (cluster start %.1f s), load %s"
                      % (rep + 1, workers, wall, start, os.getloadavg()), flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print("\n%d rungs x 2 seeds, %d epochs, %d train / %d test images, 1 CPU + 1 thread per task"
          % (len(SPECS), args.epochs, args.train_size, args.test_size))
    print("| Ray workers | ladder wall time (median of %d) | speed-up |" % args.reps)
    print("|---|---|---|")
    print("| 1 | %.1f s | 1.00 |" % one)
    print("| 2 | %.1f s | %.2f |" % (two, one / two))
    print("machine: %s; lscpu: %s; load average now %s"
          % (machine_info(), _lscpu_model(), os.getloadavg()))


def write_subset(folder, train_size, test_size):
    """Stratified Fashion-MNIST subsets as gzip IDX files in ``folder``."""
    import gzip
    import struct

    import numpy as np

    for split, prefix, n in (("train", "train", train_size), ("test", "t10k", test_size)):
        ds = load_dataset("fashion-mnist", split)
        _, (x, y) = train_val_split(ds.images, ds.labels, n / len(ds.labels), seed=0)
        for kind, array in (("images", x), ("labels", y)):
            array = np.ascontiguousarray(array, dtype=np.uint8)
            header = (struct.pack(">HBB", 0, 0x08, array.ndim)
                      + struct.pack(">" + "I" * array.ndim, *array.shape))
            with gzip.open(os.path.join(folder, "%s-%s-idx%d-ubyte.gz"
                                        % (prefix, kind, array.ndim)), "wb") as f:
                f.write(header + array.tobytes())


def _lscpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return "; ".join(line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith(("Model name", "CPU(s)")))


if __name__ == "__main__":
    main()
