"""The ablation ladder of "Classifying Fashion-MNIST with Gluon" as one resumable command.

    python examples/ablation.py                      # the seed's ladder: 50/50/50/100 epochs
    python examples/ablation.py --quick              # a smoke run on a subset (about a minute)
    python examples/ablation.py --rungs bn,dropout,augment --epochs 10 --repeats 3
    python examples/ablation.py --list               # the rungs and what they change

Writes into --out: results.json, results.md, curves_<rung>.png, ladder_val_accuracy.png and
best_vs_seed.png. Run the same command again to skip finished rungs and resume an interrupted
one from its last checkpoint; Ctrl-C leaves every file consistent.
"""
import argparse
import shlex
import signal
import sys

from fmnist_gluon import ladder
from fmnist_gluon.distributed import parse_ctx


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rungs", default=",".join(ladder.SEED_LADDER),
                   help="comma-separated rung names (default: %(default)s); see --list")
    p.add_argument("--epochs", type=int, help="override every rung's number of epochs")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: %(train_size)d train / %(test_size)d test images, "
                        "%(epochs)d epochs per rung" % ladder.QUICK)
    p.add_argument("--out", help="output folder (default: runs/ablation, or runs/quick)")
    p.add_argument("--ctx", help="'cpu', 'gpu' (all), or a list like 'gpu:0,gpu:1' "
                                 "(default: all GPUs if any, else CPU)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=1, help="seeds per rung, reported as mean ± std")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--list", action="store_true", help="list the rungs and exit")
    p.add_argument("--report", action="store_true",
                   help="only rebuild results.json/results.md/plots in --out from finished rungs")
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be at least 1, got %d" % args.epochs)
    if args.repeats < 1:
        p.error("--repeats must be at least 1, got %d" % args.repeats)
    try:
        args.rungs = ladder.get_rungs(args.rungs)
        args.ctx = parse_ctx(args.ctx)
    except ValueError as e:
        p.error(str(e))
    args.out = args.out or ("runs/quick" if args.quick else "runs/ablation")
    return args


def _interrupt(signum, frame):
    """SIGTERM (a scheduler's or `kill`'s stop) ends the run like Ctrl-C: cleanly."""
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    if args.list:
        for r in ladder.RUNGS.values():
            print("%-9s %-7s lr %-6g %3d epochs  %s" % (r.name, r.optimizer, r.lr, r.epochs,
                                                      r.description))
        return 0
    if args.report:
        ladder.write_report(args.out)
        print(open("%s/results.md" % args.out).read())
        return 0
    command = "python examples/ablation.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    try:
        ladder.run_ladder(args.rungs, out=args.out, epochs=args.epochs, quick=args.quick,
                          seed=args.seed, repeats=args.repeats, ctx=args.ctx,
                          verbose=not args.quiet, command=command.strip())
    except ValueError as e:  # e.g. --out holds a rung run with other settings
        print("error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished rungs are in %s/results.md; run the same command again "
              "to resume" % args.out, file=sys.stderr)
        return 130
    print(open("%s/results.md" % args.out).read())
    print("wrote %s/results.json, results.md and plots" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
