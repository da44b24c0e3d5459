#!/usr/bin/env python
"""Which OpenMP setting should fmnist_gluon use by default? fit's training speed under each
thread setting, on its own and beside a process that keeps one core busy.

Each measurement is a fresh Python (OpenMP reads its settings once, when MXNet loads) that
trains ``build_cnn("baseline")`` with ``fit`` on ``--images`` training images after a warm-up and
prints its training images/s. Settings and the two conditions alternate round by round, so a
change in the machine's load hits all of them alike; figures are medians over ``--rounds``.
The competitor is a ``while True: pass`` Python process this script starts before, and kills
after, each measurement of the "beside a busy core" column.

    python benchmarks/bench_threads.py                 # 4 settings x 2 conditions x 3 rounds
    python benchmarks/bench_threads.py --images 2560 --rounds 1   # smoke run
    python benchmarks/bench_threads.py --json threads.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# label -> environment for the child; FMNIST_GLUON_THREADS=mxnet leaves MXNet's own default.
SETTINGS = {
    "MXNet's default (no variable)": {"FMNIST_GLUON_THREADS": "mxnet"},
    "1 thread, PASSIVE": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
    "2 threads, ACTIVE": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "ACTIVE"},
    "2 threads, PASSIVE": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    # libgomp with no wait policy: spin GOMP_SPINCOUNT times (300,000 by default), then sleep
    "2 threads, spin then sleep": {"OMP_NUM_THREADS": "2"},
    "2 threads, GOMP_SPINCOUNT=30000": {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "30000"},
    "fmnist_gluon's default": {},
}
CLEAN = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MXNET_OMP_MAX_THREADS", "FMNIST_GLUON_THREADS",
         "GOMP_SPINCOUNT")

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, %r)
import fmnist_gluon as fg
images = int(sys.argv[1])
rng = np.random.default_rng(0)
try:
    x = fg.load_dataset(split="train").images[:images]
except Exception:
    x = rng.integers(0, 256, (images, 28, 28), dtype=np.uint8)
y = np.arange(len(x)) %% 10
kw = dict(epochs=1, lr=0.1, wd=1e-6, init_magnitude=2.24, batch_size=128, seed=0, verbose=False)
fg.fit(fg.build_cnn("baseline"), (x[:512], y[:512]), **kw)           # warm-up
h = fg.fit(fg.build_cnn("baseline"), (x, y), **kw)
print(json.dumps({"images_per_sec": h.epochs[-1]["images_per_sec"],
                  "threads": fg.threads.settings()}))
""" % ROOT


def measure(env_extra, images, busy):
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(env_extra)
    hog = None
    if busy:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(images)], env=env,
                              capture_output=True, text=True, timeout=1800)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if proc.returncode != 0:
        raise RuntimeError("measurement failed:\n" + proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(images, rounds, out=print):
    out("Machine: %s; %d logical CPUs; fmnist_gluon picks %d thread(s) here"
        % (_cpu_model(), os.cpu_count(), _physical_cores()))
    out("Load average at start (1/5/15 min): %.2f %.2f %.2f" % os.getloadavg())
    rates = {(label, busy): [] for label in SETTINGS for busy in (False, True)}
    for r in range(rounds):
        for busy in (False, True):
            for label, env in SETTINGS.items():
                rate = measure(env, images, busy)["images_per_sec"]
                rates[(label, busy)].append(rate)
                out("round %d  %-30s %-18s %6.0f images/s  load %.2f"
                    % (r + 1, label, "beside a busy core" if busy else "alone", rate,
                       os.getloadavg()[0]))
    out("\nfit's training phase, baseline network, %d images, batch 128; images/s, median of %d "
        "rounds (each round's figures in brackets)" % (images, rounds))
    out("%-32s %24s %24s" % ("setting", "alone", "beside a busy core"))
    for label in SETTINGS:
        cells = []
        for busy in (False, True):
            v = rates[(label, busy)]
            cells.append("%6.0f [%s]" % (statistics.median(v), " ".join("%.0f" % x for x in v)))
        out("%-32s %24s %24s" % (label, cells[0], cells[1]))
    out("Load average at end (1/5/15 min): %.2f %.2f %.2f" % os.getloadavg())
    return {"%s | %s" % (label, "busy" if busy else "alone"): v for (label, busy), v in rates.items()}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _physical_cores():
    sys.path.insert(0, ROOT)
    from fmnist_gluon.threads import physical_cores

    return physical_cores()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=6400, help="training images per measurement")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--json", metavar="PATH", help="write every round's figure to this file")
    args = p.parse_args(argv)
    if args.images < 128 or args.rounds < 1:
        p.error("--images must be >= 128 and --rounds >= 1")
    result = run(args.images, args.rounds)
    if args.json:
        sys.path.insert(0, ROOT)
        from fmnist_gluon.utils import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
