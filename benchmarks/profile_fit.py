#!/usr/bin/env python
"""Where fit's time goes: MXNet's profiler per operator, and MKL-DNN's own timing per primitive
(which implementation runs each convolution, and the GFLOP/s each convolution / dense call
achieves). Each runs in a fresh process, since both are switched on by environment variables.

    python benchmarks/profile_fit.py                 # both tables, 300 batches (MKL-DNN: 60)
    python benchmarks/profile_fit.py --batches 40
    python benchmarks/bench_epoch.py --profile       # the same, after the epoch comparison
"""
import argparse
import json
import os
import re
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (HERE, ROOT):  # run from a checkout without installing the package
    if _path not in sys.path:
        sys.path.insert(0, _path)

import fmnist_gluon  # noqa: E402  (first: it may set thread defaults before MXNet loads)
from fmnist_gluon import fit  # noqa: E402

import mxnet as mx  # noqa: E402
from mxnet import nd  # noqa: E402

from machine import run_script  # noqa: E402
from seed_pipeline import BATCH, LR, MAGNITUDE, WD  # noqa: E402


def warm_up(x, y):
    """A short fit before measuring: MKL-DNN primitives, the engine's threads, first calls."""
    fit(fmnist_gluon.build_cnn("baseline"), (x, y), epochs=1, lr=LR, wd=WD,
        init_magnitude=MAGNITUDE, batch_size=BATCH, seed=0, verbose=False)



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


def category(name):
    base = name[len("_backward_"):] if name.startswith("_backward_") else name
    for label, keys in CATEGORIES:
        if any(base == k or base.startswith(k) or k in base for k in keys):
            return label
    return "other"


def operator_rows(table):
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


def profile_data(batches, batch_size):
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
    x, y = profile_data(args.profile_batches, args.batch_size)
    warm_up(x[:4 * args.batch_size], y[:4 * args.batch_size])
    mx.profiler.set_config(profile_all=True, aggregate_stats=True, continuous_dump=False,
                           filename=os.path.join(_tmpdir(), "bench_epoch_profile.json"))
    net = fmnist_gluon.build_cnn("baseline")
    mx.profiler.set_state("run")
    history = fit(net, (x, y), epochs=1, lr=LR, wd=WD, init_magnitude=MAGNITUDE,
                  batch_size=args.batch_size, seed=0, verbose=False)
    nd.waitall()
    mx.profiler.set_state("stop")
    rows = operator_rows(mx.profiler.dumps(reset=True))
    train_seconds = len(x) / history.epochs[-1]["images_per_sec"]
    print(json.dumps({"images": len(x), "train_seconds": train_seconds, "rows": rows}))


def _tmpdir():
    return tempfile.gettempdir()


_DESC = re.compile(r"(mb|ic|oc|oh|ow|kh|kw|g)(\d+)")


def primitive_macs(kind, desc):
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


def short_problem(kind, desc):
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

    x, y = profile_data(args.profile_batches, args.batch_size)
    warm_up(x[:3 * args.batch_size], y[:3 * args.batch_size])
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
    return run_script(__file__, mode, env_extra, args_extra)


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
        cats[category(name)] = cats.get(category(name), 0.0) + total
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
        macs = primitive_macs(prim, desc)
        gflops = 2.0 * macs * calls / (ms / 1e3) / 1e9 if macs and ms > 0 else None
        rows.append({"primitive": prim, "implementation": impl, "pass": prop, "problem": desc,
                     "calls": calls, "ms": ms, "gflops": gflops})
    for r in rows[:top]:
        shape = short_problem(r["primitive"], r["problem"])
        out("%-13s %-15s %-16s %-22s %8.2f %5.1f%% %8s"
            % (r["primitive"][:13], r["implementation"][:15], r["pass"][:16], shape[:22],
               r["ms"] / batches, 100 * r["ms"] / total,
               "" if r["gflops"] is None else "%.0f" % r["gflops"]))
    return {"batches": batches, "mkldnn_ms_per_batch": total / batches,
            "wall_ms_per_batch": wall_ms / batches, "primitives": rows}



def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", "--profile-batches", dest="profile_batches", type=int,
                   default=300, help="batches under MXNet's profiler (default 300; MKL-DNN's: "
                                     "a fifth)")
    p.add_argument("--child", choices=("profile", "dnnl"), help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=BATCH, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return {"profile": _child_profile, "dnnl": _child_dnnl}[args.child](args)
    return {"operators": profile_operators(batches=args.profile_batches),
            "mkldnn": profile_mkldnn(batches=max(4, args.profile_batches // 5))}


if __name__ == "__main__":
    main()
