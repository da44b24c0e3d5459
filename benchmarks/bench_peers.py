#!/usr/bin/env python
"""fmnist_gluon against PyTorch and Keras: one epoch of the seed's baseline network, the same
loop, each framework on its own defaults, side by side.

Every framework trains the seed's baseline (conv64 3x3 pad 1 -> ReLU -> max-pool 2 -> conv64 3x3
-> ReLU -> max-pool 2 -> dense 256 ReLU -> dense 64 ReLU -> dense 10; softmax cross-entropy, plain
SGD lr 0.1, weight decay 1e-6, Xavier-uniform weights of magnitude 2.24, zero biases, batch 128,
shuffled, pixels scaled to [0, 1], training accuracy counted during the epoch) for one epoch on
the training images, then evaluates the test images (batch 512, accuracy); evaluation is timed
three times and its median taken. "Epoch" = the training phase (network built, initialized and
trained) + one evaluation pass, which is what ``fit(val=test)`` does each epoch.

* fmnist_gluon: ``fit(build_cnn("baseline"), ...)`` and ``evaluate``, on the package's defaults
  (one OpenMP thread per physical core, passive waiting; max-pool before ReLU, the same function);
  and once more as before those defaults (``FMNIST_GLUON_THREADS=mxnet``: MXNet's own default of
  half the logical CPUs; ``pool_first=False``).
* pytorch: ``torch.nn.Sequential``, eager mode, the loop written as the PyTorch tutorials write it
  (uint8 tensors held in memory, a batch converted to float with ``/255``, ``zero_grad``,
  ``backward``, ``step``), ``torch.inference_mode`` for the evaluation; its default threads.
* keras: Keras 3 ``Sequential`` (channels-last, as Keras defaults), ``model.fit`` on float arrays
  scaled once, ``model.evaluate``; TensorFlow's (or the configured backend's) default threads.

Each framework runs in its own fresh process (its import and thread pools are its own; peak
memory is that process's ``ru_maxrss``), after a warm-up epoch on 512 images with a throwaway
network. The frameworks alternate (a, b, c, a, b, c, ...) for ``--reps`` rounds; figures are
medians. A framework that is not installed is skipped with a message (``pip install .[peers]``).

    python benchmarks/bench_peers.py                       # 3 rounds, all 60,000 / 10,000 images
    python benchmarks/bench_peers.py --subset 2048 --test-subset 512 --reps 1   # smoke run
    python benchmarks/bench_peers.py --peers-python .venv-peers/bin/python      # peers elsewhere
    python benchmarks/bench_peers.py --keras-python /path/to/venv/bin/python    # Keras elsewhere

PyTorch and Keras belong in a virtual environment of their own (``bash scripts/setup-env.sh``
makes ``.venv-peers``): beside torch 2, gluoncv 0.10.5 refuses to import its model zoo
("Legacy torch==2.13.0+cpu detected ... torch>=1.4.0,<2.0.0 is required").
    python benchmarks/bench_peers.py --json peers.json
"""
import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LR, WD, MAGNITUDE, BATCH, EVAL_BATCH = 0.1, 1e-6, 2.24, 128, 512
THREAD_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MXNET_OMP_MAX_THREADS",
               "FMNIST_GLUON_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
               "KERAS_BACKEND", "MKL_NUM_THREADS")

# name -> (module that must be importable, environment for its process, description)
FRAMEWORKS = {
    "fmnist_gluon": ("mxnet", {}, "fit + evaluate, the package's defaults"),
    "fmnist_gluon-old": ("mxnet", {"FMNIST_GLUON_THREADS": "mxnet"},
                         "the same before issue 16: MXNet's default threads, layers as written"),
    "pytorch": ("torch", {}, "eager nn.Sequential, the tutorial loop, torch's default threads"),
    "keras": ("keras", {}, "Keras 3 Sequential, model.fit / model.evaluate, default threads"),
}


# --------------------------------------------------------------------------------------------
# The data, the same for every framework
# --------------------------------------------------------------------------------------------

def write_data(path, subset, test_subset):
    """Save (train images uint8 N x 28 x 28, labels, test images, labels) to ``path`` (.npz).

    Runs in a process of its own: fmnist_gluon's loader may import mxnet (to find its dataset
    cache), and mxnet sets OpenMP's thread count in every library that shares its OpenMP runtime,
    so no peer's process may load it.
    """
    sys.path.insert(0, ROOT)
    import numpy as np
    from fmnist_gluon.data import load_dataset

    train, test = load_dataset(split="train"), load_dataset(split="test")
    np.savez(path, xtr=train.images[:subset], ytr=train.labels[:subset].astype("int64"),
             xte=test.images[:test_subset], yte=test.labels[:test_subset].astype("int64"))


def load_data(path):
    import numpy as np

    with np.load(path) as f:
        return f["xtr"], f["ytr"], f["xte"], f["yte"]


def _timed(fn):
    tic = time.perf_counter()
    value = fn()
    return time.perf_counter() - tic, value


def _eval_seconds(evaluate_once):
    """Median of three timed evaluation passes (the first pass is one of them)."""
    runs = [_timed(evaluate_once) for _ in range(3)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


# --------------------------------------------------------------------------------------------
# fmnist_gluon
# --------------------------------------------------------------------------------------------

def run_fmnist_gluon(data, old=False):
    sys.path.insert(0, ROOT)
    import fmnist_gluon as fg

    xtr, ytr, xte, yte = data
    kw = dict(epochs=1, optimizer="sgd", lr=LR, wd=WD, init_magnitude=MAGNITUDE,
              batch_size=BATCH, seed=0, verbose=False)
    build = lambda: fg.build_cnn("baseline", pool_first=not old)
    warm = build()
    fg.fit(warm, (xtr[:512], ytr[:512]), **kw)
    fg.evaluate(warm, (xte[:512], yte[:512]))
    net = None

    def train():
        nonlocal net
        net = build()
        return fg.fit(net, (xtr, ytr), **kw).epochs[-1]["train_accuracy"]

    train_s, train_acc = _timed(train)
    eval_s, test_acc = _eval_seconds(lambda: fg.evaluate(net, (xte, yte))["accuracy"])
    return {"train_seconds": train_s, "eval_seconds": eval_s, "train_accuracy": train_acc,
            "test_accuracy": test_acc, "version": "mxnet " + __import__("mxnet").__version__,
            "threads": fg.threads.settings()}


# --------------------------------------------------------------------------------------------
# PyTorch, eager
# --------------------------------------------------------------------------------------------

def run_pytorch(data):
    import numpy as np
    import torch
    from torch import nn

    xtr, ytr, xte, yte = data
    torch.manual_seed(0)

    def build():
        net = nn.Sequential(
            nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
            nn.Linear(64 * 6 * 6, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
            nn.Linear(64, 10))
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):  # MXNet's Xavier(magnitude=2.24), uniform
                fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = float(np.sqrt(MAGNITUDE / ((fan_in + fan_out) / 2.0)))
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)
        return net

    x_train = torch.from_numpy(np.ascontiguousarray(xtr)).unsqueeze(1)  # uint8 N x 1 x 28 x 28
    y_train = torch.from_numpy(ytr)
    x_test = torch.from_numpy(np.ascontiguousarray(xte)).unsqueeze(1)
    y_test = torch.from_numpy(yte)

    def train_epoch(net, x, y):
        opt = torch.optim.SGD(net.parameters(), lr=LR, weight_decay=WD)
        loss_fn = nn.CrossEntropyLoss()
        net.train()
        correct = torch.zeros((), dtype=torch.int64)
        for idx in torch.randperm(len(x)).split(BATCH):
            xb, yb = x[idx].float().div_(255), y[idx]
            opt.zero_grad()
            out = net(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == yb).sum()
        return int(correct) / len(x)

    def evaluate(net, x, y):
        net.eval()
        correct = 0
        with torch.inference_mode():
            for i in range(0, len(x), EVAL_BATCH):
                out = net(x[i:i + EVAL_BATCH].float().div_(255))
                correct += int((out.argmax(1) == y[i:i + EVAL_BATCH]).sum())
        return correct / len(x)

    warm = build()
    train_epoch(warm, x_train[:512], y_train[:512])
    evaluate(warm, x_test[:512], y_test[:512])
    net = None

    def train():
        nonlocal net
        net = build()
        return train_epoch(net, x_train, y_train)

    train_s, train_acc = _timed(train)
    eval_s, test_acc = _eval_seconds(lambda: evaluate(net, x_test, y_test))
    return {"train_seconds": train_s, "eval_seconds": eval_s, "train_accuracy": train_acc,
            "test_accuracy": test_acc, "version": "torch " + torch.__version__,
            "threads": {"torch.get_num_threads()": torch.get_num_threads()}}


# --------------------------------------------------------------------------------------------
# Keras 3
# --------------------------------------------------------------------------------------------

def run_keras(data):
    import keras
    import numpy as np
    from keras import layers

    xtr, ytr, xte, yte = data
    keras.utils.set_random_seed(0)
    init = keras.initializers.VarianceScaling(MAGNITUDE / 3.0, "fan_avg", "uniform")  # = Xavier(2.24)

    def build():
        conv = lambda *a, **k: layers.Conv2D(*a, activation="relu", kernel_initializer=init, **k)
        dense = lambda n, act=None: layers.Dense(n, activation=act, kernel_initializer=init)
        model = keras.Sequential([
            keras.Input((28, 28, 1)), conv(64, 3, padding="same"), layers.MaxPooling2D(2),
            conv(64, 3), layers.MaxPooling2D(2), layers.Flatten(),
            dense(256, "relu"), dense(64, "relu"), dense(10)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR, weight_decay=WD),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    scale = lambda x: (x.astype(np.float32) / 255.0)[..., None]
    warm = build()
    warm.fit(scale(xtr[:512]), ytr[:512], batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
    warm.evaluate(scale(xte[:512]), yte[:512], batch_size=EVAL_BATCH, verbose=0)
    model = None

    def train():
        nonlocal model
        model = build()
        history = model.fit(scale(xtr), ytr, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
        return float(history.history["accuracy"][-1])

    train_s, train_acc = _timed(train)
    x_test = scale(xte)
    eval_s, test_acc = _eval_seconds(
        lambda: float(model.evaluate(x_test, yte, batch_size=EVAL_BATCH, verbose=0)[1]))
    backend = keras.backend.backend()
    version = "keras %s (%s" % (keras.__version__, backend)
    threads = {}
    if backend == "tensorflow":
        import tensorflow as tf

        version += " %s" % tf.__version__
        threads = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                   "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    return {"train_seconds": train_s, "eval_seconds": eval_s, "train_accuracy": train_acc,
            "test_accuracy": test_acc, "version": version + ")", "threads": threads}


# --------------------------------------------------------------------------------------------
# The parent: alternate the frameworks' processes, print one table
# --------------------------------------------------------------------------------------------

def child(args):
    """--child NAME: one timed epoch + evaluation of one framework; JSON on the last line."""
    if args.child == "data":
        write_data(args.data_file, args.subset, args.test_subset)
        print(json.dumps({"written": args.data_file}))
        return
    data = load_data(args.data_file)
    name = args.child
    if name.startswith("fmnist_gluon"):
        stats = run_fmnist_gluon(data, old=name.endswith("-old"))
    else:
        stats = {"pytorch": run_pytorch, "keras": run_keras}[name](data)
    stats["train_images"], stats["test_images"] = len(data[0]), len(data[2])
    stats["mxnet_loaded"] = "mxnet" in sys.modules
    stats["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(stats))


def available(name, python):
    """True when ``python`` can import the framework's module (checked without importing it)."""
    module = FRAMEWORKS[name][0]
    if python == sys.executable:
        return importlib.util.find_spec(module) is not None
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec(%r) is None)" % module
    return subprocess.run([python, "-c", code], capture_output=True, timeout=60).returncode == 0


def run_child(name, python, args, data_file):
    env = dict(os.environ)
    env.update(FRAMEWORKS.get(name, (None, {}))[1])
    cmd = [python, os.path.abspath(__file__), "--child", name, "--data-file", data_file]
    for flag in ("subset", "test_subset"):
        if getattr(args, flag):
            cmd += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (name, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine():
    info = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        info = dict((k.strip(), v.strip()) for k, _, v in
                    (line.partition(":") for line in out.splitlines()))
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": info.get("Model name") or platform.processor(),
            "logical_cpus": os.cpu_count(), "cores_per_socket": info.get("Core(s) per socket"),
            "threads_per_core": info.get("Thread(s) per core"), "python": platform.python_version(),
            "env": {k: os.environ[k] for k in THREAD_VARS if k in os.environ}}


def summarise(runs):
    med = lambda key: statistics.median(r[key] for r in runs)
    train_s, eval_s = med("train_seconds"), med("eval_seconds")
    first = runs[0]
    return {"epoch_seconds": statistics.median(r["train_seconds"] + r["eval_seconds"] for r in runs),
            "train_seconds": train_s, "train_images_per_sec": first["train_images"] / train_s,
            "eval_seconds": eval_s, "eval_images_per_sec": first["test_images"] / eval_s,
            "peak_rss_mb": med("peak_rss_mb"), "test_accuracy": med("test_accuracy"),
            "version": first["version"], "threads": first["threads"]}


def table(summary, reference="fmnist_gluon", out=print):
    """One row per framework; ratios are the reference's advantage (>1: fmnist_gluon faster)."""
    ref = summary[reference]
    out("%-17s %8s %8s %9s %8s %9s %8s %7s %7s  %s" % (
        "framework", "epoch s", "x ref", "train i/s", "x ref", "eval i/s", "x ref", "peak MB",
        "test %", "version"))
    for name, s in summary.items():
        out("%-17s %8.1f %8.2f %9.0f %8.2f %9.0f %8.2f %7.0f %7.2f  %s" % (
            name, s["epoch_seconds"], s["epoch_seconds"] / ref["epoch_seconds"],
            s["train_images_per_sec"], ref["train_images_per_sec"] / s["train_images_per_sec"],
            s["eval_images_per_sec"], ref["eval_images_per_sec"] / s["eval_images_per_sec"],
            s["peak_rss_mb"], 100 * s["test_accuracy"], s["version"]))
    out("x ref: how many times faster %s is (epoch: the row's seconds / %s's; images/s: %s's "
        "rate / the row's)" % (reference, reference, reference))


def run_round(name, rep, python, args, data_file, runs, out):
    r = run_child(name, python, args, data_file)
    runs[name].append(r)
    out("round %d  %-17s train %6.1f s, eval %5.2f s, test acc %.4f, peak %4.0f MB, load %.2f"
        % (rep + 1, name, r["train_seconds"], r["eval_seconds"], r["test_accuracy"],
           r["peak_rss_mb"], os.getloadavg()[0]))


def run(args, out=print):
    pythons = {name: sys.executable for name in FRAMEWORKS}
    if args.peers_python:
        pythons["pytorch"] = pythons["keras"] = args.peers_python
    if args.keras_python:
        pythons["keras"] = args.keras_python
    names = []
    for name in args.frameworks:
        if available(name, pythons[name]):
            names.append(name)
        else:
            out("skipped %s: %s is not importable with %s (--peers-python PATH for a venv with "
                "the [peers] packages, e.g. .venv-peers/bin/python)"
                % (name, FRAMEWORKS[name][0], pythons[name]))
    m = machine()
    out("Machine: %s, %s logical CPUs (%s cores/socket, %s threads/core), Python %s"
        % (m["cpu"], m["logical_cpus"], m["cores_per_socket"], m["threads_per_core"], m["python"]))
    out("Thread variables set by the caller: %s"
        % (", ".join("%s=%s" % kv for kv in m["env"].items()) or "none (every framework on its "
                                                                  "defaults)"))
    start = os.getloadavg()
    out("Load average at start (1/5/15 min): %.2f %.2f %.2f" % start)
    runs = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        data_file = os.path.join(tmp, "data.npz")
        run_child("data", sys.executable, args, data_file)
        for rep in range(args.reps):
            for name in names:
                run_round(name, rep, pythons[name], args, data_file, runs, out)
    end = os.getloadavg()
    summary = {name: summarise(r) for name, r in runs.items() if r}
    if summary:
        first = next(iter(runs.values()))[0]
        out("\nMedians of %d rounds; %d training images, %d test images; batch %d (evaluation %d)"
            % (args.reps, first["train_images"], first["test_images"], BATCH, EVAL_BATCH))
        reference = "fmnist_gluon" if "fmnist_gluon" in summary else next(iter(summary))
        table(summary, reference, out)
        for name, s in summary.items():
            out("  %-17s threads: %s" % (name, s["threads"]))
    out("Load average at end (1/5/15 min): %.2f %.2f %.2f" % end)
    return {"machine": m, "loadavg_start": start, "loadavg_end": end, "runs": runs,
            "summary": summary, "skipped": [n for n in args.frameworks if n not in names],
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument("--subset", type=int, help="first N training images (default: all 60,000)")
    p.add_argument("--test-subset", type=int, help="first N test images (default: all 10,000)")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                   help="comma-separated, from %s (default: all)" % ", ".join(FRAMEWORKS))
    p.add_argument("--peers-python", metavar="PATH",
                   help="a Python (e.g. .venv-peers/bin/python) with PyTorch and Keras installed")
    p.add_argument("--keras-python", metavar="PATH",
                   help="a Python (e.g. another venv's) with Keras installed, for the keras runs")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds one framework's process may take (default 1800)")
    p.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    p.add_argument("--child", choices=tuple(FRAMEWORKS) + ("data",), help=argparse.SUPPRESS)
    p.add_argument("--data-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.frameworks = [n.strip() for n in args.frameworks.split(",") if n.strip()]
    unknown = [n for n in args.frameworks if n not in FRAMEWORKS]
    if unknown or not args.frameworks:
        p.error("--frameworks: unknown %s; choose from %s" % (", ".join(unknown) or "(none given)",
                                                              ", ".join(FRAMEWORKS)))
    for name in ("reps", "subset", "test_subset"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error("--%s: expected a positive integer, got %d" % (name.replace("_", "-"), value))
    if args.subset is not None and args.subset < 512 or args.test_subset is not None and \
            args.test_subset < 512:
        p.error("--subset and --test-subset: at least 512 (the warm-up uses 512 images)")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args)
    result = run(args)
    if args.json:
        sys.path.insert(0, ROOT)
        from fmnist_gluon.utils import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
        print("figures written to %s" % args.json)
    return result


if __name__ == "__main__":
    main()
