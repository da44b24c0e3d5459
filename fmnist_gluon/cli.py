"""The ``fmnist-gluon`` command.

Subcommands live in ``commands.COMMANDS``: name -> (configure(parser), run(args) -> exit
status). To add one, write those two functions in ``fmnist_gluon/commands.py`` (the first line
of run's docstring is the help, the rest its example) and add a line to the table. The option
types and the input-error handling they share are in ``fmnist_gluon/cli_options.py``.

Errors: every subcommand checks its input (options, spec, files, data, run folder) first,
through ``checked``; a problem found there is a usage error: one line ``error: ...`` on stderr,
exit status 2, no traceback. Once the work has started, an exception is a failure, not a usage
error: it keeps its traceback (exit status 1), and ``train`` also writes it to ``OUT/error.log``.

    fmnist-gluon summary baseline
    fmnist-gluon train fast --epochs 2 --out runs/t
    fmnist-gluon evaluate runs/t --tta flip
    fmnist-gluon predict runs/t shirt.jpg boot.png
    fmnist-gluon export runs/t --format onnx
    fmnist-gluon ladder --quick                 # = python examples/ablation.py --quick
    fmnist-gluon launch -n 2 -- train fast      # data-parallel: 2 worker processes
"""
import argparse
import shlex
import sys
import textwrap

from . import threads
from .cli_options import EXIT_USAGE, UsageError, positive_int
from .commands import COMMANDS

__all__ = ["main", "build_parser", "COMMANDS", "UsageError", "EXIT_USAGE"]


def build_parser(prog="fmnist-gluon"):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Build, train and compare CNNs on Fashion-MNIST with MXNet Gluon.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, (configure, run) in COMMANDS.items():
        help_text, _, example = (run.__doc__ or "").strip().partition("\n")
        sub = commands.add_parser(name, help=help_text or None, description=help_text or None,
                                  epilog=textwrap.dedent(example).strip() or None,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        configure(sub)
        sub.add_argument("--threads", type=positive_int, metavar="N",  # applied early by main()
                         help="MXNet's OpenMP threads (default: one per physical core, or "
                              "OMP_NUM_THREADS when set)")
        sub.set_defaults(run=run)
    return parser


def main(argv=None, prog="fmnist-gluon", command=None):
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status.

    ``command`` fixes the subcommand for a script that is one of them (examples/ablation.py is
    ``main(argv, "python examples/ablation.py", command="ladder")``); ``argv`` then holds only
    its options, and the command line recorded in reports is ``prog`` + ``argv``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    early = argparse.ArgumentParser(add_help=False)  # --threads: before anything loads mxnet
    early.add_argument("--threads", type=positive_int)
    known, _ = early.parse_known_args(argv)
    if known.threads is not None:
        try:
            threads.use(known.threads)
        except RuntimeError as exc:
            print("error: --threads: %s" % exc, file=sys.stderr)
            return EXIT_USAGE
    args = build_parser(prog).parse_args(([command] if command else []) + argv)
    args.command_line = " ".join([prog] + [shlex.quote(a) for a in argv])
    try:
        return args.run(args)
    except UsageError as exc:  # found by checked(), before any work: no traceback
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_USAGE



if __name__ == "__main__":
    sys.exit(main())
