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
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, ROOT)

import fmnist_gluon  # noqa: E402  (first: it may set thread defaults before MXNet loads)
from fmnist_gluon import evaluate, fit  # noqa: E402

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, nd  # noqa: E402

# The seed notebook's baseline training set-up.
LR, WD, MAGNITUDE, BATCH = 0.1, 1e-6, 2.24, 128
ENV_KEYS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MXNET_OMP_MAX_THREADS",
            "MXNET_CPU_WORKER_NTHREADS", "MXNET_ENGINE_TYPE", "MXNET_MKLDNN_ENABLED",
            "MXNET_SUBGRAPH_BACKEND", "MXNET_EXEC_BULK_EXEC_TRAIN", "KMP_AFFINITY")


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------

def _lscpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def machine():
    """CPU model, cores, library versions, MXNet features and the thread settings in force."""
    cpu = _lscpu()
    features = mx.runtime.Features()
    return {
        "cpu": cpu.get("Model name") or platform.processor(),
        "logical_cpus": os.cpu_count(),
        "cores_per_socket": cpu.get("Core(s) per socket"),
        "threads_per_core": cpu.get("Thread(s) per core"),
        "python": platform.python_version(),
        "mxnet": mx.__version__,
        "numpy": np.__version__,
        "mkldnn": features.is_enabled("MKLDNN"),
        "blas": [k for k in ("BLAS_OPEN", "BLAS_MKL", "BLAS_ATLAS", "BLAS_APPLE")
                 if features.is_enabled(k)],
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
    }


def mxnet_omp_threads():
    """How many OpenMP threads MXNet 1.x gives an operator, and why (src/engine/openmp.cc)."""
    if "MXNET_OMP_MAX_THREADS" in os.environ:
        return "%s OpenMP threads (MXNET_OMP_MAX_THREADS)" % os.environ["MXNET_OMP_MAX_THREADS"]
    if "OMP_NUM_THREADS" in os.environ:
        return "%s OpenMP threads (OMP_NUM_THREADS)" % os.environ["OMP_NUM_THREADS"]
    return ("%d OpenMP thread(s): MXNet's default is half the logical CPUs, assuming "
            "hyper-threading" % max(1, (os.cpu_count() or 2) // 2))


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def peak_rss_mb():
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------------------------
# Matrix-product rate: what the cores can do on the friendliest float32 work
# --------------------------------------------------------------------------------------------

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
    del A, B
    return rates


def matmul_rates_child(n, reps):
    """``matmul_rates`` in a fresh process with this one's settings (keeps our peak RSS clean)."""
    proc = _run_child("matmul", {}, ["--matmul-size", str(n), "--matmul-reps", str(reps)])
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


# --------------------------------------------------------------------------------------------
# (b) the seed's pipeline
# --------------------------------------------------------------------------------------------

def _seed_transform(data, label):
    """The seed's per-sample transform: HWC uint8 -> CHW float32 in [0, 1]; float label."""
    return nd.transpose(data.astype(np.float32), (2, 0, 1)) / 255, label.astype(np.float32)


def _seed_dataset(images, labels):
    """What gluon.data.vision.FashionMNIST holds (NHWC uint8 NDArray, int32 labels), transformed."""
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    dataset = gluon.data.ArrayDataset(nd.array(images, dtype=np.uint8),
                                      np.asarray(labels, dtype=np.int32))
    return dataset.transform(_seed_transform)


def _seed_net():
    """The seed's baseline, built as the seed built it (nn.Sequential, never hybridized)."""
    net = gluon.nn.Sequential()
    with net.name_scope():
        net.add(gluon.nn.Conv2D(64, kernel_size=3, padding=1, activation="relu"))
        net.add(gluon.nn.MaxPool2D(pool_size=2, strides=2))
        net.add(gluon.nn.Conv2D(64, kernel_size=3, activation="relu"))
        net.add(gluon.nn.MaxPool2D(pool_size=2, strides=2))
        net.add(gluon.nn.Flatten())
        net.add(gluon.nn.Dense(256, activation="relu"))
        net.add(gluon.nn.Dense(64, activation="relu"))
        net.add(gluon.nn.Dense(10))
    return net


def _seed_accuracy(data_iterator, net, ctx):
    """The seed's evaluate_accuracy: argmax of the outputs into mx.metric.Accuracy."""
    acc = mx.metric.Accuracy()
    for data, label in data_iterator:
        data = data.as_in_context(ctx)
        label = label.as_in_context(ctx)
        output = net(data)
        predictions = nd.argmax(output, axis=1)
        acc.update(preds=predictions, labels=label)
    return acc.get()[1]


def seed_train_pass(net, trainer, train_data, ctx):
    """One pass of the seed's training loop over ``train_data``; returns the summed loss.

    The only addition to the seed's loop is that sum, kept on the device (one small operator per
    batch, no host sync) so the caller can check that it trained.
    """
    softmax_cross_entropy = gluon.loss.SoftmaxCrossEntropyLoss()
    total = nd.zeros((1,), ctx=ctx)
    for data, label in train_data:
        data = data.as_in_context(ctx)
        label = label.as_in_context(ctx)
        with autograd.record():
            output = net(data)
            loss = softmax_cross_entropy(output, label)
        loss.backward()
        trainer.step(data.shape[0])
        total += loss.sum()
    return total


def seed_epoch(train_images, train_labels, test_images, test_labels, batch_size=BATCH, seed=0,
               ctx=None):
    """One epoch of the seed's pipeline, then its accuracy passes; returns the timings."""
    ctx = ctx or mx.cpu()
    np.random.seed(seed)  # the DataLoader's shuffle
    mx.random.seed(seed)  # the initial weights
    tic = time.perf_counter()
    train_data = gluon.data.DataLoader(_seed_dataset(train_images, train_labels), batch_size,
                                       shuffle=True)
    test_data = gluon.data.DataLoader(_seed_dataset(test_images, test_labels), batch_size,
                                      shuffle=False)
    net = _seed_net()
    net.collect_params().initialize(mx.init.Xavier(magnitude=MAGNITUDE), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR, "wd": WD})
    total = seed_train_pass(net, trainer, train_data, ctx)
    loss = float(total.asscalar()) / len(train_images)
    train_done = time.perf_counter()
    train_accuracy = _seed_accuracy(train_data, net, ctx)
    train_eval_done = time.perf_counter()
    test_accuracy = _seed_accuracy(test_data, net, ctx)
    done = time.perf_counter()
    return {
        "seconds": done - tic,
        "train_seconds": train_done - tic,
        "train_eval_seconds": train_eval_done - train_done,
        "test_eval_seconds": done - train_eval_done,
        "train_images": len(train_images),
        "test_images": len(test_images),
        "loss": loss,
        "train_accuracy": float(train_accuracy),
        "test_accuracy": float(test_accuracy),
    }


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
# Profile: where fit's time goes (MXNet's profiler per operator; MKL-DNN per primitive)
# --------------------------------------------------------------------------------------------

# Operator name -> what it is, for the category totals of the profile.
CATEGORIES = [
    ("convolution", ("Convolution",)),
    ("pooling", ("Pooling",)),
    ("activation (relu)", ("Activation",)),
    ("dense (FullyConnected)", ("FullyConnected",)),
    ("flatten / reshape", ("Flatten", "Reshape", "reshape")),
    ("optimizer update", ("sgd_update", "sgd_mom_update", "multi_sgd", "adam_update")),
    ("loss", ("log_softmax", "pick", "mean", "_mul_scalar")),
    ("metric (softmax, argmax, ==, sum)", ("softmax", "argmax", "broadcast_equal", "sum", "_plus",
                                           "broadcast_add", "elemwise_add")),
    ("data copy / sync", ("CopyCPU2CPU", "SetValueOp", "WaitForVar", "Concat", "_copy")),
    ("gradient buffers", ("_zeros", "add_n")),
]


def _category(name):
    base = name[len("_backward_"):] if name.startswith("_backward_") else name
    for label, keys in CATEGORIES:
        if any(base == k or base.startswith(k) or k in base for k in keys):
            return label
    return "other"


def _operator_rows(table):
    """(name, calls, total ms) rows of the "operator" section of ``mx.profiler.dumps()``."""
    lines = table.splitlines()
    rows, section = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if i + 1 < len(lines) and lines[i + 1].strip().startswith("==="):
            section = text
            continue
        if section != "operator" or not text or text.startswith(("Name", "----", "===")):
            continue
        parts = text.split()
        try:  # Name  Total Count  Time (ms)  Min Time  Max Time  Avg Time
            calls, total = int(parts[-5]), float(parts[-4])
        except (ValueError, IndexError):
            continue
        rows.append((" ".join(parts[:-5]), calls, total))
    return sorted(rows, key=lambda r: -r[2])


def _profile_data(batches, batch_size):
    x = np.random.default_rng(0).integers(0, 256, (batches * batch_size, 28, 28), dtype=np.uint8)
    try:  # the real images when they are there (same cost; nicer loss values)
        x = fmnist_gluon.load_dataset(split="train").images[:batches * batch_size]
    except Exception:  # noqa: BLE001 - synthetic data are as good for timing
        pass
    y = np.arange(len(x)) % 10
    return x, y


def _child_profile(args):
    """--child profile: MXNet's profiler around fit on --profile-batches batches; JSON out.

    Runs with MXNET_EXEC_BULK_EXEC_TRAIN=0 (set by the parent) so that the hybridized graph's
    operators are timed one by one instead of as fused "bulk" segments.
    """
    x, y = _profile_data(args.profile_batches, args.batch_size)
    fit_epoch(x[:4 * args.batch_size], y[:4 * args.batch_size], x[:256], y[:256])  # warm-up
    mx.profiler.set_config(profile_all=True, aggregate_stats=True, continuous_dump=False,
                           filename=os.path.join(_tmpdir(), "bench_epoch_profile.json"))
    net = fmnist_gluon.build_cnn("baseline")
    mx.profiler.set_state("run")
    history = fit(net, (x, y), epochs=1, lr=LR, wd=WD, init_magnitude=MAGNITUDE,
                  batch_size=args.batch_size, seed=0, verbose=False)
    nd.waitall()
    mx.profiler.set_state("stop")
    rows = _operator_rows(mx.profiler.dumps(reset=True))
    train_seconds = len(x) / history.epochs[-1]["images_per_sec"]
    print(json.dumps({"images": len(x), "train_seconds": train_seconds, "rows": rows}))


def _tmpdir():
    import tempfile

    return tempfile.gettempdir()


_DESC = re.compile(r"(mb|ic|oc|oh|ow|kh|kw|g)(\d+)")


def _primitive_macs(kind, desc):
    """Multiply-accumulates of one MKL-DNN convolution / inner-product call from its problem."""
    if kind not in ("convolution", "inner_product"):
        return 0
    dims = {}
    for key, value in _DESC.findall(desc):
        dims.setdefault(key, int(value))  # the first occurrence (oh before ow's kw etc.)
    if kind == "inner_product":
        return dims.get("mb", 0) * dims.get("ic", 0) * dims.get("oc", 0)
    return (dims.get("mb", 0) * dims.get("oc", 0) * dims.get("oh", 0) * dims.get("ow", 0)
            * dims.get("ic", 0) // dims.get("g", 1) * dims.get("kh", 1) * dims.get("kw", 1))


def _short_problem(kind, desc):
    """'conv 64ch 14x14 -> 64ch 12x12', 'pool 64ch 28x28 -> 14x14', 'fc 2304 -> 256', or as is."""
    dims = dict((k, int(v)) for k, v in reversed(_DESC.findall(desc)))
    dims.update((k, int(v)) for k, v in re.findall(r"(ih|iw)(\d+)", desc)[:2])
    if kind == "convolution" and "oh" in dims:
        return "conv %d>%d %dx%d" % (dims["ic"], dims["oc"], dims.get("ih", 0), dims.get("iw", 0))
    if kind.startswith("pooling") and "oh" in dims:
        return "pool %d %dx%d" % (dims["ic"], dims.get("ih", 0), dims.get("iw", 0))
    if kind == "inner_product" and "ic" in dims:
        return "fc %d>%d" % (dims["ic"], dims["oc"])
    return desc


def _child_dnnl(args):
    """--child dnnl: fit on --profile-batches batches under DNNL_VERBOSE=1 (set by the parent).

    Prints a marker after the warm-up so the parent only counts the measured batches; C's
    stdout buffer is flushed first so the marker lands in order.
    """
    import ctypes

    x, y = _profile_data(args.profile_batches, args.batch_size)
    fit_epoch(x[:3 * args.batch_size], y[:3 * args.batch_size], x[:256], y[:256])
    libc = ctypes.CDLL(None)
    libc.fflush(None)
    sys.stdout.flush()
    os.write(1, b"=== measure\n")
    net = fmnist_gluon.build_cnn("baseline")
    history = fit(net, (x, y), epochs=1, lr=LR, wd=WD, init_magnitude=MAGNITUDE,
                  batch_size=args.batch_size, seed=0, verbose=False)  # no val: training only
    stats = {"train_seconds": len(x) / history.epochs[-1]["images_per_sec"]}
    libc.fflush(None)
    sys.stdout.flush()
    os.write(1, ("=== done %s\n" % json.dumps(stats)).encode())


def _run_child(mode, env_extra, args_extra=()):
    env = dict(os.environ)
    env.update(env_extra)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode] + list(args_extra)
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


def profile_operators(batches=300, top=15, out=print):
    """MXNet's profiler around fit (fresh process): top operators and totals per category."""
    proc = _run_child("profile", {"MXNET_EXEC_BULK_EXEC_TRAIN": "0",
                                  "MXNET_EXEC_BULK_EXEC_INFERENCE": "0"},
                      ["--profile-batches", str(batches)])
    if proc.returncode != 0:
        out("profile failed: %s" % proc.stderr.strip()[-2000:])
        return None
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = [tuple(r) for r in res["rows"]]
    busy = sum(r[2] for r in rows)
    per_batch = -(-res["images"] // BATCH)
    out("\nMXNet profiler, fit on %d images (%d batches of %d), operators timed one by one "
        "(MXNET_EXEC_BULK_EXEC_TRAIN=0): training phase %.2f s, operators busy %.2f s"
        % (res["images"], per_batch, BATCH, res["train_seconds"], busy / 1e3))
    out("%-38s %7s %10s %9s %7s" % ("operator", "calls", "total ms", "ms/batch", "share"))
    for name, calls, total in rows[:top]:
        out("%-38s %7d %10.1f %9.2f %6.1f%%" % (name[:38], calls, total, total / per_batch,
                                               100 * total / busy))
    cats = {}
    for name, _, total in rows:
        cats[_category(name)] = cats.get(_category(name), 0.0) + total
    out("by kind: " + ", ".join("%s %.0f%%" % (k, 100 * v / busy)
                                for k, v in sorted(cats.items(), key=lambda kv: -kv[1])))
    res["categories_ms"] = cats
    return res


def profile_mkldnn(batches=40, top=14, out=print):
    """MKL-DNN's own timing of every primitive (DNNL_VERBOSE=1) over ``batches`` fit batches.

    Says which implementation runs each convolution (jit:avx512... = MKL-DNN's JIT kernels),
    and the GFLOP/s each convolution / dense call achieves on its own.
    """
    proc = _run_child("dnnl", {"DNNL_VERBOSE": "1", "MKLDNN_VERBOSE": "1"},
                      ["--profile-batches", str(batches)])
    if proc.returncode != 0:
        out("MKL-DNN profile failed: %s" % proc.stderr.strip()[-2000:])
        return None
    measuring, stats, agg = False, None, {}
    for line in proc.stdout.splitlines():
        if line.startswith("=== measure"):
            measuring = True
        elif line.startswith("=== done"):
            stats = json.loads(line[len("=== done"):])
            measuring = False
        elif measuring and line.startswith(("dnnl_verbose,exec", "mkldnn_verbose,exec")):
            p = line.split(",")
            key = (p[3], p[4], p[5], p[-2])  # primitive, implementation, propagation, problem
            entry = agg.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += float(p[-1])
    if not agg or stats is None:
        out("\nMKL-DNN: no primitive reported (MKL-DNN not in use?)")
        return None
    total = sum(v[1] for v in agg.values())
    wall_ms = stats["train_seconds"] * 1e3
    out("\nMKL-DNN primitives (DNNL_VERBOSE=1), fit on %d batches of %d: %.1f ms per batch in "
        "MKL-DNN of %.1f ms per batch (training phase)"
        % (batches, BATCH, total / batches, wall_ms / batches))
    out("%-13s %-15s %-16s %-22s %8s %6s %8s" % ("primitive", "implementation", "pass", "shape",
                                                 "ms/batch", "share", "GFLOP/s"))
    rows = []
    for (prim, impl, prop, desc), (calls, ms) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        macs = _primitive_macs(prim, desc)
        gflops = 2.0 * macs * calls / (ms / 1e3) / 1e9 if macs and ms > 0 else None
        rows.append({"primitive": prim, "implementation": impl, "pass": prop, "problem": desc,
                     "calls": calls, "ms": ms, "gflops": gflops})
    for r in rows[:top]:
        shape = _short_problem(r["primitive"], r["problem"])
        out("%-13s %-15s %-16s %-22s %8.2f %5.1f%% %8s"
            % (r["primitive"][:13], r["implementation"][:15], r["pass"][:16], shape[:22],
               r["ms"] / batches, 100 * r["ms"] / total,
               "" if r["gflops"] is None else "%.0f" % r["gflops"]))
    return {"batches": batches, "mkldnn_ms_per_batch": total / batches,
            "wall_ms_per_batch": wall_ms / batches, "primitives": rows}


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


def _child_matmul(args):
    """--child matmul: the matrix-product rates and the copy bandwidth as JSON."""
    rates = matmul_rates(n=args.matmul_size, reps=args.matmul_reps)
    rates["copy_gb_per_sec"] = copy_bandwidth(CONV1_ACTIVATION_MB)
    print(json.dumps(rates))


def _child_fit(args):
    """--child fit: time fit's training phase on --sweep-subset images; JSON out."""
    x, y = _profile_data(-(-args.sweep_subset // BATCH), BATCH)
    print(json.dumps({"images_per_sec": _fit_rate(x[:args.sweep_subset], y[:args.sweep_subset])}))


def sweep(subset=12800, rounds=2, out=print):
    """Training images/s of fit under thread/engine settings and fit options, interleaved.

    Settings alternate round by round (A, B, C, A, B, C) so that a change in the machine's load
    hits them all alike; the figure is the median over the rounds.
    """
    env_rates = {label: [] for label, _, _ in ENV_SWEEP}
    fit_rates = {label: [] for label, _ in FIT_SWEEP}
    x, y = _profile_data(-(-subset // BATCH), BATCH)
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
    p.add_argument("--child", choices=("fit", "profile", "dnnl", "matmul"), help=argparse.SUPPRESS)
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
        return {"fit": _child_fit, "profile": _child_profile, "dnnl": _child_dnnl,
                "matmul": _child_matmul}[args.child](args)
    result = run(args)
    if args.json:
        from fmnist_gluon.utils import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
        print("figures written to %s" % args.json)
    return result


if __name__ == "__main__":
    main()
