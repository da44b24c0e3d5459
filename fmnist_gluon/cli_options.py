"""What the ``fmnist-gluon`` subcommands share: option types for argparse, and input errors.

An input error found before any work starts is a ``UsageError``: ``cli.main`` prints it as one
line ``error: ...`` and exits with status 2 (argparse's status for bad usage).
"""
import argparse
import json

__all__ = ["EXIT_USAGE", "UsageError", "checked", "input_shape", "positive_int",
           "nonnegative_int", "positive_float", "schedule", "sweep_param"]

EXIT_USAGE = 2  # argparse's status for bad usage; we use it for every input error


class UsageError(Exception):
    """An input error found before any work started: printed as ``error: ...``, exit 2."""


def checked(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, with its input errors (ValueError - SpecError and the data,
    image and run-folder errors are ones -, TypeError, OSError) turned into UsageError.

    Only wrap the checking step of a command in it, never the work: a ValueError raised
    during hours of training is a bug or a failure, and must keep its traceback.
    """
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(str(exc)) from exc


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


def nonnegative_int(text):
    """argparse type for an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("expected an int >= 0, got %r" % text)
    return value


def positive_float(text):
    """argparse type for a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("expected a number > 0, got %r" % text)
    return value


def schedule(text):
    """argparse type for --schedule: 'none', a name, or a JSON dict."""
    if text.strip().lower() == "none":
        return "none"
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError("not valid JSON (%s): %r" % (exc, text))
    return text

