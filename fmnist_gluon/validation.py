"""Argument checks shared by every public function (scikit-learn's ``check_scalar`` habit).

One place decides what a positive integer, a seed, a probability, a batch size, a list of
devices is, and how "did you mean" is worded, so that ``fit(batch_size=True)`` and
``BatchIterator(batch_size=True)`` fail alike (bools are refused wherever an integer is asked
for: ``True`` is not a batch size of 1). Every check names the argument and the value it got.

Devices: :func:`resolve_contexts` is the one rule, and its default is documented once here:
``None`` means every GPU MXNet sees, else the CPU (``mx.cpu()``).
"""
import difflib
import numbers

__all__ = ["check_int", "check_positive_int", "check_non_negative_int", "check_seed",
           "check_batch_size", "check_number", "check_probability", "check_choice", "closest",
           "did_you_mean", "resolve_contexts", "DEFAULT_CONTEXT"]

DEFAULT_CONTEXT = "every GPU MXNet sees, else the CPU"


def check_int(value, name, low=None, high=None):
    """``value`` as an int, or a ValueError naming ``name``: an integer (numpy ints too, bools
    refused) with ``low <= value <= high`` where given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError("%s: expected %s, got %r" % (name, _int_words(low, high), value))
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError("%s: expected %s, got %r" % (name, _int_words(low, high), value))
    return int(value)


def _int_words(low, high):
    if low == 1 and high is None:
        return "a positive integer"
    if low == 0 and high is None:
        return "a non-negative integer"
    if high is None:
        return "an integer >= %d" % low if low is not None else "an integer"
    return "an integer in [%s, %d]" % ("-inf" if low is None else low, high)


def check_positive_int(value, name):
    """An int >= 1 (bools refused)."""
    return check_int(value, name, low=1)


def check_non_negative_int(value, name):
    """An int >= 0 (bools refused)."""
    return check_int(value, name, low=0)


def check_seed(seed, name="seed", allow_none=True):
    """None (when allowed) or a non-negative int: what numpy's SeedSequence and MXNet take."""
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError("%s: expected %sa non-negative integer, got %r"
                         % (name, "None or " if allow_none else "", seed))
    return int(seed)


def check_batch_size(batch_size, name="batch_size"):
    """A positive int (bools refused: ``True`` is not a batch size)."""
    return check_positive_int(batch_size, name)


def check_number(value, name, low=None, high=None, low_open=False, high_open=False, hint=""):
    """``value`` as a float in the interval given (``low_open``: ``low`` excluded; NaN and
    bools refused). ``hint`` is added to the message, e.g. ", e.g. 0.1"."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        where = ""
        if low is not None or high is not None:
            where = " in %s%s, %s%s" % ("(" if low_open or low is None else "[",
                                         "-inf" if low is None else "%g" % low,
                                         "inf" if high is None else "%g" % high,
                                         ")" if high_open or high is None else "]")
        raise ValueError("%s: expected a number%s%s, got %r" % (name, where, hint, value))
    return float(value)


def check_probability(value, name="p"):
    """A float in [0, 1] (bools and NaN refused)."""
    try:
        return check_number(value, name, 0.0, 1.0)
    except ValueError:
        raise ValueError("%s: expected a probability in [0, 1], got %r" % (name, value)) from None


def closest(word, choices, aliases=None, cutoff=0.6):
    """The choice ``word`` most likely meant (an alias, a case slip or a typo), or None."""
    if not isinstance(word, str):
        return None
    key = word.lower()
    if aliases and key in aliases:
        return aliases[key]
    if key in choices:
        return key
    close = difflib.get_close_matches(key, [str(c) for c in choices], n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(word, choices, aliases=None, cutoff=0.6):
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    guess = closest(word, choices, aliases, cutoff)
    return "; did you mean %r?" % guess if guess else ""


def check_choice(value, name, choices):
    """``value`` if it is one of the strings ``choices``, else a ValueError listing them, with a
    guess."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError("%s: expected one of %s, got %r%s"
                     % (name, ", ".join(repr(c) for c in choices), value,
                        did_you_mean(value, choices)))


def resolve_contexts(ctx, name="ctx"):
    """A non-empty list of ``mx.Context`` from what a user may give as devices.

    ``ctx``: None (the default: every GPU MXNet sees, else ``mx.cpu()``); an ``mx.Context``; a
    non-empty list or tuple of them; or a string: ``"cpu"``, ``"gpu"`` (every GPU),
    ``"gpu:0,gpu:1"``, ``"cpu:0,cpu:1"`` (the CLI's ``--ctx``).
    """
    import mxnet as mx

    if ctx is None:
        return [mx.gpu(i) for i in range(_num_gpus())] or [mx.cpu()]
    if isinstance(ctx, mx.Context):
        return [ctx]
    if isinstance(ctx, (list, tuple)) and ctx and all(isinstance(c, mx.Context) for c in ctx):
        return list(ctx)
    if isinstance(ctx, str) and ctx.strip():
        return _parse_contexts(ctx, name)
    raise TypeError("%s: expected None (%s), an mx.Context, a non-empty list of them (e.g. "
                    "[mx.gpu(0), mx.gpu(1)]) or a string like 'cpu', 'gpu' or 'gpu:0,gpu:1', "
                    "got %r" % (name, DEFAULT_CONTEXT, ctx))


def _num_gpus():
    import mxnet as mx

    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:  # a CPU-only build
        return 0


def _parse_contexts(text, name):
    import mxnet as mx

    text = text.strip().lower()
    if text == "gpu":
        n = _num_gpus()
        if n == 0:
            raise ValueError("%s 'gpu': MXNet sees no GPU here; use 'cpu' or check the CUDA build"
                             % name)
        return [mx.gpu(i) for i in range(n)]
    devices = []
    for item in text.split(","):
        kind, _, index = item.strip().partition(":")
        if kind not in ("cpu", "gpu") or (index and not index.isdigit()):
            raise ValueError("%s %r: expected 'cpu', 'gpu', or a list like 'gpu:0,gpu:1', got %r"
                             % (name, text, item))
        devices.append(getattr(mx, kind)(int(index or 0)))
    return devices
