#!/usr/bin/env python
"""What the cores can do on the friendliest float32 work: the GFLOP/s of an n^3 matrix product
(numpy's BLAS, MXNet's ``nd.dot``, and MXNet's ``FullyConnected``, which runs on MKL-DNN like the
convolutions) and the bandwidth of a float32 copy. A training rate means little without them.

    python benchmarks/matmul_rate.py --size 4096 --reps 5      # prints one JSON line
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (HERE, ROOT):  # run from a checkout without installing the package
    if _path not in sys.path:
        sys.path.insert(0, _path)

import fmnist_gluon  # noqa: F401,E402  (first: it may set thread defaults before MXNet loads)

from mxnet import nd  # noqa: E402

from seed_pipeline import BATCH  # noqa: E402

def _rate(fn, flop, reps):
    fn()  # warm-up: thread pools, page faults, MKL-DNN primitive creation
    times = []
    for _ in range(reps):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return flop / statistics.median(times) / 1e9


def matmul_rates(n=4096, reps=3):
    """GFLOP/s of an n^3 float32 product: numpy's BLAS, MXNet nd.dot, MXNet FullyConnected."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    flop = 2.0 * n ** 3
    rates = {"numpy_matmul": _rate(lambda: a @ b, flop, reps)}
    A, B = nd.array(a), nd.array(b)
    rates["mxnet_nd_dot"] = _rate(lambda: nd.dot(A, B).wait_to_read(), flop, reps)
    # FullyConnected computes A.B^T through MKL-DNN's inner product, the library the convs use.
    rates["mxnet_fullyconnected"] = _rate(
        lambda: nd.FullyConnected(A, B, no_bias=True, num_hidden=n).wait_to_read(), flop, reps)

    return rates



def matmul_rates_child(n, reps):
    """``matmul_rates`` and ``copy_bandwidth`` in a fresh process with this one's settings (keeps
    the caller's peak memory clean)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--size", str(n), "--reps", str(reps)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("the matrix-product measurement failed:\n" + proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def copy_bandwidth(mb, reps=5):
    """GB/s of a float32 copy of ``mb`` MB (read + write counted): what memory-bound layers get."""
    a = np.ones(int(mb * 1e6) // 4, dtype=np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)
    times = []
    for _ in range(reps):
        tic = time.perf_counter()
        np.copyto(b, a)
        times.append(time.perf_counter() - tic)
    return 2 * a.nbytes / statistics.median(times) / 1e9


# One activation of the first convolution at batch 128 (128 x 64 x 28 x 28 float32), in MB.
CONV1_ACTIVATION_MB = BATCH * 64 * 28 * 28 * 4 / 1e6


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=4096, help="n of the n^3 product (default 4096)")
    p.add_argument("--reps", type=int, default=5, help="timed products (default 5)")
    args = p.parse_args(argv)
    rates = matmul_rates(n=args.size, reps=args.reps)
    rates["copy_gb_per_sec"] = copy_bandwidth(CONV1_ACTIVATION_MB)
    print(json.dumps(rates))
    return rates


if __name__ == "__main__":
    main()
