#!/usr/bin/env python
"""One training epoch of the seed's baseline network: fmnist_gluon's ``fit`` against the seed's
own pipeline, side by side in one process, with the work counted.

What it does, in one run on one machine:

* (a) ``fmnist_gluon.fit(epochs=1, val=test)`` of ``build_cnn("baseline")`` (SGD lr 0.1, wd 1e-6,
  Xavier magnitude 2.24, batch 128), and
* (b) the seed's pipeline as the seed post wrote it: an ``ArrayDataset`` of NHWC uint8 images with
  a per-sample ``transform`` (transpose, /255) through a shuffled ``DataLoader``, a
  non-hybridized ``nn.Sequential``, the autograd loop with ``trainer.step``, then the separate
  accuracy passes over the training set and the test set that the seed ran every epoch;

alternating (a, b, a, b, ...) for ``--reps`` repetitions, after a small warm-up of each. Then:
training FLOP per epoch from ``summary("baseline").total_macs``, the GFLOP/s ``fit`` achieves
next to a 4096^3 float32 matrix product (numpy's BLAS, MXNet's ``nd.dot``, and MXNet's
``FullyConnected``, which runs on MKL-DNN like the convolutions), the evaluation rate of
``fmnist_gluon.evaluate``, and the peak memory of this process.

    python benchmarks/bench_epoch.py                    # the full comparison (< 10 min, 2 cores)
    python benchmarks/bench_epoch.py --quick            # smoke run on a small subset
    python benchmarks/bench_epoch.py --profile          # + where fit's time goes (MXNet operators,
                                                        #   MKL-DNN primitives with their GFLOP/s)
    python benchmarks/bench_epoch.py --sweep            # + threads, engine, batch, hybridize
    OMP_NUM_THREADS=2 python benchmarks/bench_epoch.py  # MXNet threads (see docs/performance.md)
    /usr/bin/time -v python benchmarks/bench_epoch.py   # peak memory of the whole run, from the OS

Conventions: one multiply-accumulate (MAC) = 2 FLOP; a training step costs 3x the forward MACs
(forward, gradient w.r.t. inputs, gradient w.r.t. weights; this slightly over-counts the first
convolution, whose input needs no gradient). Figures are medians over the repetitions.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (HERE, ROOT):  # run from a checkout without installing the package
    if _path not in sys.path:
        sys.path.insert(0, _path)

import fmnist_gluon  # noqa: E402  (first: it may set thread defaults before MXNet loads)
from fmnist_gluon import evaluate, fit  # noqa: E402

from machine import ENV_KEYS, loadavg, machine, mxnet_omp_threads, peak_rss_mb, run_script  # noqa: E402
from matmul_rate import CONV1_ACTIVATION_MB, matmul_rates_child  # noqa: E402
from profile_fit import profile_data, profile_mkldnn, profile_operators  # noqa: E402
from seed_pipeline import BATCH, LR, MAGNITUDE, WD, seed_epoch  # noqa: E402


# --------------------------------------------------------------------------------------------
# (a) fmnist_gluon.fit
# --------------------------------------------------------------------------------------------

def fit_epoch(train_images, train_labels, test_images, test_labels, batch_size=BATCH, seed=0,
              hybridize_as=None, make_net=None, **fit_kwargs):
    """One epoch of ``fmnist_gluon.fit`` (val = test); returns (timings, trained network).

    ``hybridize_as``: a dict of ``net.hybridize`` flags applied before fit, which is then told
    not to hybridize (to compare with fit's own ``hybridize(static_alloc=True,
    static_shape=True)``). ``make_net``: another network builder than ``build_cnn("baseline")``.
    """
    tic = time.perf_counter()
    net = make_net() if make_net is not None else fmnist_gluon.build_cnn("baseline")
    if hybridize_as is not None:
        net.hybridize(**hybridize_as)
        fit_kwargs["hybridize"] = False
    history = fit(
        net, (train_images, train_labels), val=(test_images, test_labels), epochs=1,
        optimizer="sgd", lr=LR, wd=WD, init_magnitude=MAGNITUDE, batch_size=batch_size,
        seed=seed, verbose=False, **fit_kwargs)
    seconds = time.perf_counter() - tic
    row = history.epochs[-1]
    train_seconds = len(train_images) / row["images_per_sec"]
    return {
        "seconds": seconds,
        "train_seconds": train_seconds,
        "test_eval_seconds": row["seconds"] - train_seconds,
        "train_images": len(train_images),
        "test_images": len(test_images),
        "loss": row["train_loss"],
        "train_accuracy": row["train_accuracy"],
        "test_accuracy": row["val_accuracy"],
    }, net



# --------------------------------------------------------------------------------------------
# Sweep: thread, engine, hybridization and batch-size settings, each in a fresh process
# --------------------------------------------------------------------------------------------

# (label, environment, share of the subset): thread and engine settings are read when MXNet
# loads, so each runs in a fresh process. MKL-DNN off is ~40x slower: it gets 1/16 of the images.
ENV_SWEEP = [
    ("defaults (no variable set)", {}, 1),
    ("OMP_NUM_THREADS=1", {"OMP_NUM_THREADS": "1"}, 1),
    ("OMP_NUM_THREADS=2", {"OMP_NUM_THREADS": "2"}, 1),
    ("OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE", {"OMP_NUM_THREADS": "2",
                                                   "OMP_WAIT_POLICY": "PASSIVE"}, 1),
    ("OMP_NUM_THREADS=2 MXNET_CPU_WORKER_NTHREADS=2", {"OMP_NUM_THREADS": "2",
                                                      "MXNET_CPU_WORKER_NTHREADS": "2"}, 1),
    ("OMP_NUM_THREADS=1 MXNET_CPU_WORKER_NTHREADS=2", {"OMP_NUM_THREADS": "1",
                                                      "MXNET_CPU_WORKER_NTHREADS": "2"}, 1),
    ("OMP_NUM_THREADS=2 MXNET_ENGINE_TYPE=NaiveEngine", {"OMP_NUM_THREADS": "2",
                                                        "MXNET_ENGINE_TYPE": "NaiveEngine"}, 1),
    ("OMP_NUM_THREADS=2 MXNET_MKLDNN_ENABLED=0", {"OMP_NUM_THREADS": "2",
                                                  "MXNET_MKLDNN_ENABLED": "0"}, 16),
]

def pool_before_relu_net():
    """The baseline with each max-pool moved before its ReLU (``pool_before_activation``): the
    same function, forward and backward, but the ReLU runs on 4x fewer values."""
    return fmnist_gluon.build_cnn(fmnist_gluon.pool_before_activation("baseline"))


# (label, fit keyword arguments): these need no fresh process; run in this one.
FIT_SWEEP = [
    ("batch 128, hybridized (fit's default)", {}),
    ("batch 128, hybridize() without static_alloc/shape", {"hybridize_as": {}}),
    ("batch 128, not hybridized", {"hybridize": False}),
    ("batch 64", {"batch_size": 64}),
    ("batch 256", {"batch_size": 256}),
    ("batch 512", {"batch_size": 512}),
    ("batch 128, max-pool before ReLU (same function)", {"make_net": pool_before_relu_net}),
]


def _fit_rate(x, y, **kw):
    """Training images/s of fit's training phase on (x, y) (after a 2-batch warm-up)."""
    b = kw.get("batch_size", BATCH)
    fit_epoch(x[:2 * b], y[:2 * b], x[:b], y[:b], **kw)
    stats, _ = fit_epoch(x, y, x[:b], y[:b], **kw)
    return len(x) / stats["train_seconds"]




def _child_fit(args):
    """--child fit: time fit's training phase on --sweep-subset images; JSON out."""
    x, y = profile_data(-(-args.sweep_subset // BATCH), BATCH)
    print(json.dumps({"images_per_sec": _fit_rate(x[:args.sweep_subset], y[:args.sweep_subset])}))

def _run_child(mode, env_extra, args_extra=()):
    return run_script(__file__, mode, env_extra, args_extra)


def sweep(subset=12800, rounds=2, out=print):
    """Training images/s of fit under thread/engine settings and fit options, interleaved.

    Settings alternate round by round (A, B, C, A, B, C) so that a change in the machine's load
    hits them all alike; the figure is the median over the rounds.
    """
    env_rates = {label: [] for label, _, _ in ENV_SWEEP}
    fit_rates = {label: [] for label, _ in FIT_SWEEP}
    x, y = profile_data(-(-subset // BATCH), BATCH)
    x, y = x[:subset], y[:subset]
    for _ in range(rounds):
        for label, env, share in ENV_SWEEP:
            saved = {k: os.environ.pop(k) for k in ENV_KEYS if k in os.environ}
            try:
                proc = _run_child("fit", env, ["--sweep-subset", str(max(256, subset // share))])
            finally:
                os.environ.update(saved)
            if proc.returncode == 0:
                env_rates[label].append(json.loads(proc.stdout.strip().splitlines()[-1])
                                        ["images_per_sec"])
            else:
                out("%s failed: %s" % (label, proc.stderr.strip().splitlines()[-1:]))
        for label, kw in FIT_SWEEP:
            fit_rates[label].append(_fit_rate(x, y, **kw))
    out("\nSettings sweep: fit's training phase on %d images (MKL-DNN off: %d), median of %d "
        "interleaved rounds" % (subset, max(256, subset // 16), rounds))
    out("Thread / engine settings, each in a fresh process (read when MXNet loads):")
    for label, rates in env_rates.items():
        if rates:
            out("  %-50s %7.0f images/s   (rounds: %s)" % (label, statistics.median(rates),
                                                         " ".join("%.0f" % r for r in rates)))
    out("fit options, in this process (thread settings as above: %s):"
        % (", ".join("%s=%s" % kv for kv in machine()["env"].items()) or "none set"))
    for label, rates in fit_rates.items():
        out("  %-50s %7.0f images/s   (rounds: %s)" % (label, statistics.median(rates),
                                                     " ".join("%.0f" % r for r in rates)))
    return {"env": {k: statistics.median(v) for k, v in env_rates.items() if v},
            "fit_options": {k: statistics.median(v) for k, v in fit_rates.items()},
            "env_rounds": env_rates, "fit_rounds": fit_rates, "subset": subset}


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

def _median(runs, key):
    return statistics.median(r[key] for r in runs)


def run(args, out=print):
    result = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv),
              "machine": machine(), "loadavg_start": loadavg()}
    m = result["machine"]
    out("Machine: %s, %s logical CPUs (%s cores/socket, %s threads/core); Python %s, MXNet %s "
        "(MKL-DNN %s, %s), numpy %s" % (m["cpu"], m["logical_cpus"], m["cores_per_socket"],
                                          m["threads_per_core"], m["python"], m["mxnet"],
                                          "on" if m["mkldnn"] else "off", "/".join(m["blas"]),
                                          m["numpy"]))
    out("Thread settings: %s; MXNet's operators use %s" % (
        ", ".join("%s=%s" % kv for kv in m["env"].items()) or "no variable set",
        mxnet_omp_threads()))
    out("Load average at start (1/5/15 min): %.2f %.2f %.2f" % result["loadavg_start"])

    # The matrix-product rate before and after the epochs: the machine is shared, so take both.
    rates_before = matmul_rates_child(args.matmul_size, args.matmul_reps)
    train = fmnist_gluon.load_dataset(split="train")
    test = fmnist_gluon.load_dataset(split="test")
    xtr, ytr, xte, yte = train.images, train.labels, test.images, test.labels
    if args.subset:
        xtr, ytr = xtr[:args.subset], ytr[:args.subset]
    if args.test_subset:
        xte, yte = xte[:args.test_subset], yte[:args.test_subset]
    result["peak_rss_mb_after_load"] = peak_rss_mb()

    macs = fmnist_gluon.summary("baseline", print_fn=None).total_macs
    train_flop = 3 * 2 * macs * len(xtr)
    test_flop = 2 * macs * len(xte)
    out("\nWork: %d MACs per image forward (summary('baseline').total_macs); training = 3 x "
        "forward, 2 FLOP per MAC -> %.3f TFLOP per epoch of %d images, + %.3f TFLOP for the "
        "test pass of %d images" % (macs, train_flop / 1e12, len(xtr), test_flop / 1e12, len(xte)))

    # Warm-up (not timed): MKL-DNN primitives, the engine's threads, first-call costs.
    fit_epoch(xtr[:1024], ytr[:1024], xte[:256], yte[:256])
    seed_epoch(xtr[:1024], ytr[:1024], xte[:256], yte[:256])

    fits, seeds, net = [], [], None
    for rep in range(args.reps):
        stats, net = fit_epoch(xtr, ytr, xte, yte, seed=rep)
        fits.append(stats)
        out("rep %d  fit : %6.1f s (train %5.1f s, test pass %4.1f s)  loss %.4f  test acc %.4f"
            % (rep + 1, stats["seconds"], stats["train_seconds"], stats["test_eval_seconds"],
               stats["loss"], stats["test_accuracy"]))
        stats = seed_epoch(xtr, ytr, xte, yte, seed=rep)
        seeds.append(stats)
        out("rep %d  seed: %6.1f s (train %5.1f s, train-acc pass %4.1f s, test pass %4.1f s)  "
            "loss %.4f  test acc %.4f" % (rep + 1, stats["seconds"], stats["train_seconds"],
                                          stats["train_eval_seconds"], stats["test_eval_seconds"],
                                          stats["loss"], stats["test_accuracy"]))
    result["fit_runs"], result["seed_runs"] = fits, seeds
    result["peak_rss_mb_after_training"] = peak_rss_mb()

    fit_s, seed_s = _median(fits, "seconds"), _median(seeds, "seconds")
    fit_train_s, seed_train_s = _median(fits, "train_seconds"), _median(seeds, "train_seconds")
    summary = {
        "fit_epoch_seconds": fit_s,
        "seed_epoch_seconds": seed_s,
        "speedup_epoch": seed_s / fit_s,
        "fit_train_seconds": fit_train_s,
        "seed_train_seconds": seed_train_s,
        "speedup_training_phase": seed_train_s / fit_train_s,
        "fit_train_images_per_sec": len(xtr) / fit_train_s,
        "seed_train_images_per_sec": len(xtr) / seed_train_s,
        "fit_epoch_images_per_sec": len(xtr) / fit_s,
        "seed_epoch_images_per_sec": len(xtr) / seed_s,
        "macs_per_image": macs,
        "train_tflop_per_epoch": train_flop / 1e12,
        "fit_train_gflops": train_flop / fit_train_s / 1e9,
        "fit_epoch_gflops": (train_flop + test_flop) / fit_s / 1e9,
    }

    evals = []
    for _ in range(3):
        tic = time.perf_counter()
        evaluate(net, (xte, yte))
        evals.append(time.perf_counter() - tic)
    summary["evaluate_images_per_sec"] = len(xte) / statistics.median(evals)
    summary["evaluate_gflops"] = test_flop / statistics.median(evals) / 1e9

    rates_after = matmul_rates_child(args.matmul_size, args.matmul_reps)
    summary["copy_gb_per_sec"] = max(rates_before.pop("copy_gb_per_sec"),
                                     rates_after.pop("copy_gb_per_sec"))
    rates = {k: max(rates_before[k], rates_after[k]) for k in rates_before}
    summary["matmul_gflops_before"] = rates_before
    summary["matmul_gflops_after"] = rates_after
    summary["matmul_gflops"] = rates
    best = max(rates.values())
    summary["fit_share_of_best_matmul"] = summary["fit_train_gflops"] / best
    result["summary"] = summary
    result["peak_rss_mb"] = peak_rss_mb()
    result["loadavg_end"] = loadavg()

    s = summary
    out("\nMedians of %d repetitions, %d training images, %d test images, batch %d"
        % (args.reps, len(xtr), len(xte), BATCH))
    out("%-44s %10s %10s" % ("", "fit", "seed"))
    out("%-44s %10.1f %10.1f" % ("epoch, s (train + accuracy passes)", fit_s, seed_s))
    out("%-44s %10.0f %10.0f" % ("epoch, training images/s", s["fit_epoch_images_per_sec"],
                                 s["seed_epoch_images_per_sec"]))
    out("%-44s %10.1f %10.1f" % ("training phase, s", fit_train_s, seed_train_s))
    out("%-44s %10.0f %10.0f" % ("training phase, images/s", s["fit_train_images_per_sec"],
                                 s["seed_train_images_per_sec"]))
    out("Speed-up (seed time / fit time): epoch %.2fx, training phase %.2fx"
        % (s["speedup_epoch"], s["speedup_training_phase"]))
    out("fit achieved: %.1f GFLOP/s in the training phase, %.1f GFLOP/s over the whole epoch "
        "(incl. the test pass)" % (s["fit_train_gflops"], s["fit_epoch_gflops"]))
    out("Evaluation (fmnist_gluon.evaluate, batch 512): %.0f images/s (%.1f GFLOP/s)"
        % (s["evaluate_images_per_sec"], s["evaluate_gflops"]))
    out("%d^3 float32 matrix product, GFLOP/s, median of %d after a warm-up, measured before "
        "/ after the epochs:" % (args.matmul_size, args.matmul_reps))
    out("  numpy (its OpenBLAS) %.1f / %.1f, MXNet nd.dot (bundled OpenBLAS) %.1f / %.1f, MXNet "
        "FullyConnected (MKL-DNN) %.1f / %.1f"
        % tuple(v for k in ("numpy_matmul", "mxnet_nd_dot", "mxnet_fullyconnected")
                for v in (rates_before[k], rates_after[k])))
    out("fit's training rate = %.0f%% of the best matrix-product rate (%.1f GFLOP/s)"
        % (100 * s["fit_share_of_best_matmul"], best))
    out("Memory: a %.1f MB float32 copy (one conv1 activation at batch 128) runs at %.1f GB/s "
        "(read + write)" % (CONV1_ACTIVATION_MB, s["copy_gb_per_sec"]))
    out("Peak resident memory of this process (getrusage maxrss): %.0f MB after loading the data, "
        "%.0f MB after the epochs, %.0f MB at the end; for a whole command use /usr/bin/time -v "
        "... ('Maximum resident set size')"
        % (result["peak_rss_mb_after_load"], result["peak_rss_mb_after_training"],
           result["peak_rss_mb"]))
    out("Load average at end (1/5/15 min): %.2f %.2f %.2f" % result["loadavg_end"])

    if args.profile:
        result["profile"] = profile_operators(batches=args.profile_batches, out=out)
        result["mkldnn"] = profile_mkldnn(batches=max(4, args.profile_batches // 5), out=out)
    if args.sweep:
        result["sweep"] = sweep(subset=args.sweep_subset, rounds=args.sweep_rounds, out=out)
    if args.profile or args.sweep:
        result["loadavg_after_profile_sweep"] = loadavg()
        out("Load average after the profile/sweep (1/5/15 min): %.2f %.2f %.2f"
            % result["loadavg_after_profile_sweep"])
    return result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3, help="alternating repetitions (default 3)")
    p.add_argument("--subset", type=int, default=None,
                   help="train on the first N training images (default: all 60,000)")
    p.add_argument("--test-subset", type=int, default=None,
                   help="evaluate on the first N test images (default: all 10,000)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2,048 training / 1,000 test images, 1 repetition, 1024^3 "
                        "matrix product")
    p.add_argument("--matmul-size", type=int, default=4096,
                   help="n of the n^3 float32 matrix product (default 4096)")
    p.add_argument("--matmul-reps", type=int, default=5,
                   help="timed matrix products, before and after the epochs (default 5)")
    p.add_argument("--profile", action="store_true",
                   help="also profile fit per operator and list the MKL-DNN primitives used")
    p.add_argument("--profile-batches", type=int, default=300,
                   help="batches under MXNet's profiler (default 300; MKL-DNN's: a fifth)")
    p.add_argument("--sweep", action="store_true",
                   help="also time fit under thread/engine/batch/hybridize settings "
                        "(fresh processes)")
    p.add_argument("--sweep-subset", type=int, default=12800,
                   help="training images per sweep measurement (default 12,800)")
    p.add_argument("--sweep-rounds", type=int, default=2,
                   help="interleaved rounds of the sweep (default 2)")
    p.add_argument("--json", metavar="PATH", help="write all figures to this JSON file")
    # Internal: one sweep measurement in a fresh process.
    p.add_argument("--child", choices=("fit",), help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=BATCH, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.subset = args.subset or 2048
        args.test_subset = args.test_subset or 1000
        args.reps = 1
        args.matmul_size = min(args.matmul_size, 1024)
        args.matmul_reps = min(args.matmul_reps, 3)
        args.profile_batches = min(args.profile_batches, 16)
        args.sweep_subset = min(args.sweep_subset, 1024)
        args.sweep_rounds = 1
    for name in ("reps", "subset", "test_subset", "matmul_size", "matmul_reps", "profile_batches",
                 "sweep_subset", "sweep_rounds", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error("--%s: expected a positive integer, got %d" % (name.replace("_", "-"), value))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return _child_fit(args)
    result = run(args)
    if args.json:
        from fmnist_gluon.utils import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
        print("figures written to %s" % args.json)
    return result


if __name__ == "__main__":
    main()
