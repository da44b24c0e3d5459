"""Fuzz the spec layer with N random specs and print what happened to them.

    .venv/bin/python benchmarks/fuzz_specs.py --examples 10000 [--seed 0] [--show 5]

Every example is a random spec (all layer kinds of ``spec.LAYER_KINDS``, hostile field values,
shorthand strings, seed tuples, garbage), a random ``classes`` and ``input_shape``, run through
``parse_spec``, ``build_cnn``, ``summary`` and a forward pass on the CPU (batch of 1-2). The
strategies and the invariant are those of tests/test_fuzz.py (tests/spec_strategies.py). Prints
the examples tried, how many were refused with a well-formed SpecError, how many built a network
whose forward pass matched the traced shape, and every other outcome (a bug; the exit status is
1 when there is any).
"""
import argparse
import collections
import os
import platform
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import spec_strategies as S  # noqa: E402
from fmnist_gluon.spec import LAYER_KINDS, parse_spec  # noqa: E402


def machine():
    model = "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration, subprocess.SubprocessError):
        pass
    return "%s, %d cores, Python %s, load average %.1f at the start" % (
        model, os.cpu_count(), platform.python_version(), os.getloadavg()[0])


def run(examples, seed=0):
    """Run ``examples`` random cases; return (Counter of outcomes, Counter of the layer kinds in
    the nets that were built, list of (case, traceback))."""
    counts, kinds, bugs = collections.Counter(), collections.Counter(), []

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(case=st.tuples(S.SPECS, S.CLASSES, S.INPUT_SHAPES, st.integers(1, 2)))
    def one(case):
        counts["tried"] += 1
        spec, classes, input_shape, batch = case
        try:
            outcome = S.check_spec(spec, classes, input_shape, batch)
            counts[outcome] += 1
            if outcome == "built":
                kinds.update({e["type"] for e in parse_spec(spec, input_shape, classes)})
        except Exception:  # a bug: count it, keep its traceback, go on
            counts["other"] += 1
            bugs.append((case, traceback.format_exc()))

    one()
    return counts, kinds, bugs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="random specs to try (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random generation (default 0)")
    parser.add_argument("--show", type=int, default=3, help="tracebacks of other exceptions to print")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples: expected a positive number, got %d" % args.examples)
    print("machine:", machine())
    start = time.perf_counter()
    counts, kinds, bugs = run(args.examples, args.seed)
    seconds = time.perf_counter() - start
    for case, tb in bugs[:args.show]:
        print("--- other exception for %r\n%s" % (case, tb))
    print("examples tried:          %d" % counts["tried"])
    print("SpecErrors (well-formed): %d" % counts["error"])
    print("built nets (forward pass matched the traced shape): %d" % counts["built"])
    print("other exceptions:        %d" % counts["other"])
    print("built nets holding each layer kind: %s" % ", ".join(
        "%s %d" % (kind, kinds[kind]) for kind in LAYER_KINDS))
    missing = [kind for kind in LAYER_KINDS if not kinds[kind]]
    print("layer kinds never built: %s" % (", ".join(missing) or "none"))
    print("seconds: %.1f (%.1f ms per example)" % (seconds, 1000 * seconds / max(counts["tried"], 1)))
    return 1 if counts["other"] else 0


if __name__ == "__main__":
    sys.exit(main())
