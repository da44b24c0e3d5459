"""The ``fmnist-gluon`` command.

Subcommands live in ``COMMANDS``: name -> (configure(parser), run(args) -> exit status). To add
one, write those two functions (the first line of run's docstring is the help) and add a line to
the table. Expected errors (a bad spec, a missing
file) print one line, ``error: ...``, on stderr and exit with status 2; no traceback.

    fmnist-gluon summary baseline
    fmnist-gluon summary "conv32k3p1-bn-relu-pool2-dense10" --input-shape 1,28,28
    fmnist-gluon summary my_net.yaml --json
"""
import argparse
import sys

from .model import summary
from .spec import SpecError, parse_spec, spec_to_json

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
    parser.add_argument("spec", help="a preset name (baseline, bn, dropout, leaky, wide), a .json/"
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


# name -> (configure(parser), run(args) -> exit status); run's first docstring line is the help.
COMMANDS = {
    "summary": (configure_summary, run_summary),
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fmnist-gluon",
        description="Build, train and compare CNNs on Fashion-MNIST with MXNet Gluon.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, (configure, run) in COMMANDS.items():
        help_text = (run.__doc__ or "").strip().split("\n")[0] or None
        sub = commands.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv=None):
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (SpecError, ValueError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
