"""The ``fmnist-gluon`` command.

Subcommands live in ``COMMANDS``: name -> (configure(parser), run(args) -> exit status). To add
one, write those two functions (the first line of run's docstring is the help) and add a line to
the table. Expected errors (a bad spec, a missing
file) print one line, ``error: ...``, on stderr and exit with status 2; no traceback.

    fmnist-gluon summary baseline
    fmnist-gluon summary "conv32k3p1-bn-relu-pool2-dense10" --input-shape 1,28,28
    fmnist-gluon summary my_net.yaml --json
    fmnist-gluon ladder --quick                 # = python examples/ablation.py --quick
"""
import argparse
import json
import shlex
import signal
import sys

from .model import summary
from .spec import PRESETS, SpecError, parse_spec, spec_to_json

EXIT_USAGE = 2  # argparse's status for bad usage; we use it for every input error


def input_shape(text):
    """argparse type for '1,28,28' -> (1, 28, 28)."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            "expected channels,height,width as three positive ints such as 1,28,28, got %r" % text)
    return shape


def positive_int(text):
    """argparse type for a positive int."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive int, got %r" % text)
    return value


def configure_summary(parser):
    parser.add_argument("spec", help="a preset name (%s), a .json/" % ", ".join(PRESETS) +
                        ".yaml/.yml file, or a shorthand string such as conv64k3p1-relu-pool2-dense10")
    parser.add_argument("--input-shape", type=input_shape, default=(1, 28, 28), metavar="C,H,W",
                        help="input shape per image (default: 1,28,28)")
    parser.add_argument("--classes", type=positive_int, default=10,
                        help="classifier size appended when the spec does not end in a dense layer "
                             "(default: 10)")
    parser.add_argument("--json", action="store_true",
                        help="print the canonical JSON spec instead of the table")


def run_summary(args):
    """Print each layer's output shape, parameters and MACs for a spec."""
    if args.json:
        print(spec_to_json(parse_spec(args.spec, args.input_shape, args.classes), args.input_shape))
    else:
        summary(args.spec, input_shape=args.input_shape, classes=args.classes)
    return 0


def configure_ladder(parser):
    from . import ladder

    parser.add_argument("--rungs", default=",".join(ladder.SEED_LADDER),
                        help="comma-separated rung names (default: %(default)s); see --list")
    parser.add_argument("--epochs", type=positive_int, help="override every rung's epochs")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: %(train_size)d train / %(test_size)d test images, "
                             "%(epochs)d epochs per rung" % ladder.QUICK)
    parser.add_argument("--out", help="output folder (default: runs/ablation, or runs/quick)")
    parser.add_argument("--ctx", help="'cpu', 'gpu' (all), or a list like 'gpu:0,gpu:1' "
                                      "(default: all GPUs if any, else the CPU)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default: %(default)s)")
    parser.add_argument("--repeats", type=positive_int, default=1,
                        help="seeds per rung, reported as mean ± std")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--list", action="store_true", help="list the rungs and exit")
    parser.add_argument("--report", action="store_true",
                        help="only rebuild results.json/results.md/plots in --out")
    parser.add_argument("--ray", nargs="?", const="ray", metavar="ADDRESS",
                        help="run each (rung, seed) as a Ray task: on the cluster at ADDRESS "
                             "(host:port), RAY_ADDRESS, or a local one (docs/distributed.md)")
    parser.add_argument("--workers", type=positive_int,
                        help="with --ray and no cluster: CPUs of the local Ray cluster")
    parser.add_argument("--cpus-per-task", type=positive_int, default=1,
                        help="with --ray: CPUs (and threads) per task (default: %(default)s)")


def _interrupt(signum, frame):
    """SIGTERM (a scheduler's or kill's stop) ends a run like Ctrl-C: cleanly."""
    raise KeyboardInterrupt


def run_ladder(args):
    """Run the ablation ladder resumably and write results.json, results.md and plots."""
    from . import ladder
    from .distributed import parse_ctx

    if args.list:
        for r in ladder.RUNGS.values():
            print("%-9s %-7s lr %-6g %3d epochs  %s"
                  % (r.name, r.optimizer, r.lr, r.epochs, r.description))
        return 0
    rungs, ctx = ladder.get_rungs(args.rungs), parse_ctx(args.ctx)
    out = args.out or ("runs/quick" if args.quick else "runs/ablation")
    if not args.report:
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            ladder.run_ladder(rungs, out=out, epochs=args.epochs, quick=args.quick,
                              seed=args.seed, repeats=args.repeats, ctx=ctx,
                              verbose=not args.quiet, command=args.command_line,
                              executor=args.ray, workers=args.workers,
                              cpus_per_task=args.cpus_per_task)
        except KeyboardInterrupt:
            print("\ninterrupted: finished rungs are in %s/results.md; run the same command "
                  "again to resume" % out, file=sys.stderr)
            return 130
    else:
        ladder.write_report(out)
    with open("%s/results.md" % out, encoding="utf-8") as f:
        print(f.read())
    print("wrote %s/results.json, results.md and plots" % out)
    return 0


def sweep_param(text):
    """argparse type for NAME=V1,V2 or NAME=[json list] -> (name, [values])."""
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise argparse.ArgumentTypeError("expected NAME=VALUE,VALUE (e.g. lr=0.1,0.01) or "
                                         "NAME=[JSON list], got %r" % text)
    try:
        parsed = json.loads(values) if values.startswith("[") else None
    except ValueError as exc:
        raise argparse.ArgumentTypeError("%s: not a JSON list (%s)" % (text, exc)) from None
    if parsed is None:
        parsed = [_scalar(v) for v in values.split(",")]
    return name, parsed


def _scalar(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def configure_sweep(parser):
    parser.add_argument("--param", type=sweep_param, action="append", required=True,
                        metavar="NAME=V1,V2", help="a rung field and its values (repeatable), "
                        "e.g. --param lr=0.1,0.01 --param spec=bn,dropout")
    parser.add_argument("--base", default="adam", help="the rung the trials start from "
                        "(default: %(default)s; see fmnist-gluon ladder --list)")
    parser.add_argument("--search", choices=("grid", "random"), default="grid")
    parser.add_argument("--samples", type=positive_int, default=8,
                        help="trials drawn by --search random (default: %(default)s)")
    parser.add_argument("--epochs", type=positive_int, help="override the trials' epochs")
    parser.add_argument("--quick", action="store_true", help="the ladder's --quick subsets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/sweep", help="output folder (default: %(default)s)")
    parser.add_argument("--ray", nargs="?", const="ray", metavar="ADDRESS",
                        help="run the trials with Ray Tune (ASHA): on the cluster at ADDRESS, "
                             "RAY_ADDRESS, or a local one")
    parser.add_argument("--workers", type=positive_int, help="with --ray and no cluster: CPUs")
    parser.add_argument("--cpus-per-task", type=positive_int, default=1)
    parser.add_argument("--no-asha", action="store_true", help="with --ray: no early stopping")
    parser.add_argument("--grace-period", type=positive_int, default=1,
                        help="with --ray: epochs before ASHA may stop a trial")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_sweep_command(args):
    """Grid or random search over rung fields, locally or on Ray Tune; writes sweep.md/json/png."""
    from . import sweep

    sweep.run_sweep(dict(args.param), base=args.base, search=args.search,
                    num_samples=args.samples, out=args.out, epochs=args.epochs, seed=args.seed,
                    quick=args.quick, executor=args.ray, workers=args.workers,
                    cpus_per_task=args.cpus_per_task, asha=not args.no_asha,
                    grace_period=args.grace_period, verbose=not args.quiet,
                    command=args.command_line)
    with open("%s/sweep.md" % args.out, encoding="utf-8") as f:
        print(f.read())
    print("wrote %s/sweep.json, sweep.md and sweep_val_accuracy.png" % args.out)
    return 0


# name -> (configure(parser), run(args) -> exit status); run's first docstring line is the help.
COMMANDS = {
    "summary": (configure_summary, run_summary),
    "ladder": (configure_ladder, run_ladder),
    "sweep": (configure_sweep, run_sweep_command),
}


def build_parser(prog="fmnist-gluon"):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Build, train and compare CNNs on Fashion-MNIST with MXNet Gluon.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, (configure, run) in COMMANDS.items():
        help_text = (run.__doc__ or "").strip().split("\n")[0] or None
        sub = commands.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv=None, prog="fmnist-gluon", command=None):
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status.

    ``command`` fixes the subcommand for a script that is one of them (examples/ablation.py is
    ``main(argv, "python examples/ablation.py", command="ladder")``); ``argv`` then holds only
    its options, and the command line recorded in reports is ``prog`` + ``argv``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(prog).parse_args(([command] if command else []) + argv)
    args.command_line = " ".join([prog] + [shlex.quote(a) for a in argv])
    try:
        return args.run(args)
    except (SpecError, ValueError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
