"""Time the data path on the real Fashion-MNIST: loading (with and without MD5) and one epoch of batches.

    .venv/bin/python benchmarks/bench_data.py [--root DIR] [--epochs 5] [--batch-size 128] [--no-baseline]

Prints the machine, then medians over repeated runs measured side by side in one process:
load time of the training split (MD5 checked / not checked / cached), the per-epoch time of
producing all training batches with BatchIterator (no augmentation, flip+crop4,
flip+crop4+erase, two contexts) and, for comparison, one epoch of the per-sample path the seed
post used (gluon DataLoader over an ArrayDataset with transforms.ToTensor).
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

import fmnist_gluon.data as D  # noqa: E402
from fmnist_gluon.data import BatchIterator, load_dataset  # noqa: E402


def machine():
    model, cpus = "?", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("CPU(s):"):
                cpus = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return "%s, %s CPUs; Python %s, mxnet %s, numpy %s" % (model, cpus, platform.python_version(),
                                                          mx.__version__, np.__version__)


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def load_fresh(root, verify):
    D._CACHE.clear()
    return load_dataset("fashion-mnist", "train", root=root, verify=verify, download=False)


def fmt(times):
    return " ".join("%.3f" % t for t in times)


def one_epoch(it):
    n = 0
    for data, label in it:
        n += data[0].shape[0] if isinstance(data, list) else data.shape[0]
    mx.nd.waitall()
    return n


def dataloader_epoch(images, labels, batch_size):
    """The seed's path: a per-sample transform inside gluon's DataLoader."""
    from mxnet.gluon.data import ArrayDataset, DataLoader
    from mxnet.gluon.data.vision import transforms
    ds = ArrayDataset(mx.nd.array(images[..., None], dtype=np.uint8), labels).transform_first(transforms.ToTensor())
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True)
    for data, label in loader:
        pass
    mx.nd.waitall()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=None, help="folder with the files (default: the usual search)")
    ap.add_argument("--epochs", type=int, default=7, help="epochs per configuration (median reported)")
    ap.add_argument("--repeat", type=int, default=5, help="loads per variant (median reported)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--no-baseline", action="store_true", help="skip the DataLoader comparison")
    args = ap.parse_args(argv)

    print("machine:", machine())
    # Interleave the variants round by round so that load from other processes hits them alike.
    loads = {"auto": [], False: []}
    for _ in range(args.repeat):
        for verify in loads:
            loads[verify].append(timed(lambda: load_fresh(args.root, verify), 1)[0])
    train = load_fresh(args.root, "auto")
    med_cached, _ = timed(lambda: load_dataset("fashion-mnist", "train", root=args.root, download=False), 3)
    med_md5, med_raw = statistics.median(loads["auto"]), statistics.median(loads[False])
    print("load train split (60000 images), median of %d interleaved runs:" % args.repeat)
    print("  with MD5 check (verify='auto')  %.3f s   (runs %s)" % (med_md5, fmt(loads["auto"])))
    print("  without MD5 (verify=False)      %.3f s   (runs %s)" % (med_raw, fmt(loads[False])))
    print("  MD5 adds %.3f s (%.0f%%); a second load in the same process takes %.6f s (in-process cache)"
          % (med_md5 - med_raw, 100 * (med_md5 - med_raw) / med_raw, med_cached))

    configs = [("no augmentation", dict()),
               ("flip,crop4", dict(augment="flip,crop4")),
               ("flip,crop4,erase", dict(augment="flip,crop4,erase")),
               ("no augmentation, ctx=[cpu(0), cpu(1)]", dict(ctx=[mx.cpu(0), mx.cpu(1)]))]
    iters = [BatchIterator(train, batch_size=args.batch_size, shuffle=True, seed=0, **kw) for _, kw in configs]
    times = [[] for _ in configs]
    for _ in range(args.epochs):
        for it, ts in zip(iters, times):
            ts.append(timed(lambda: one_epoch(it), 1)[0])
    print("one epoch of BatchIterator (batch %d, shuffled, %d batches), median of %d interleaved epochs:"
          % (args.batch_size, len(iters[0]), args.epochs))
    print("  (ratio = median over rounds of this epoch's time / the no-augmentation epoch of the same round,")
    print("   which cancels the slow and fast phases of a shared machine)")
    base = statistics.median(times[0])
    for (label, _), ts in zip(configs, times):
        med = statistics.median(ts)
        ratio = statistics.median(t / b for t, b in zip(ts, times[0]))
        print("  %-38s %.3f s  ratio %.2f  (%.0f images/s; runs %s)"
              % (label, med, ratio, len(train.labels) / med, fmt(ts)))
    if not args.no_baseline:
        med, _ = timed(lambda: dataloader_epoch(train.images, train.labels, args.batch_size), 1)
        print("  %-38s %.3f s  (one epoch; %.0f× the BatchIterator time)"
              % ("seed path: DataLoader + ToTensor", med, med / base))


if __name__ == "__main__":
    main()
