"""Spec errors and their messages: ``SpecError``, and bounded reprs that keep every message
short whatever the input (a huge, deep or self-containing value is never expanded)."""
import reprlib

__all__ = ["SpecError", "cut", "clip", "show", "layer_error"]


class SpecError(ValueError):
    """A layer spec that cannot be built. ``index``/``layer_type``/``field`` locate the problem."""

    def __init__(self, message, index=None, layer_type=None, field=None):
        super().__init__(message)
        self.index, self.layer_type, self.field = index, layer_type, field


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def cut(text, limit):
    return text if len(text) <= limit else text[:limit - 3] + "..."


def clip(value, limit=60):
    """``repr(value)`` cut to ``limit`` characters (messages stay short whatever the input)."""
    return cut(repr(value), limit)


def show(value):
    """A bounded repr and the type: never expands a huge, deep or self-containing value."""
    text = _REPR.repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return "%s (%s)" % (text, type(value).__name__)


def layer_error(where, layer_type, field, message, index=None):
    """A SpecError located at ``where`` (e.g. "layer 3"), of ``layer_type``, field ``field``."""
    head = where + (" (%s)" % layer_type if layer_type else "")
    if field is not None:
        head += ", field %s" % clip(field)
    return SpecError("%s: %s" % (head, message), index=index, layer_type=layer_type, field=field)
