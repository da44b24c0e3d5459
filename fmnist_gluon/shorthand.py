"""The shorthand form of a spec: ``conv64k3p1-relu-pool2-dense10``, token by token.

The grammar is in ``fmnist_gluon.spec``'s docstring (and docs/specs.md). ``parse_token`` reads
one token into a raw layer dict; ``layer_token`` writes a canonical layer back as its token.
"""
import json
import re
from decimal import Decimal

from .layers import ALIASES, LAYER_KINDS, SHORT_NAMES, SameAs
from .specerrors import SpecError, clip, layer_error
from .validation import closest as _closest

__all__ = ["parse_token", "parse_shorthand", "layer_token", "SEED_SHORTHAND"]

# The seed's baseline network, the example in messages.
SEED_SHORTHAND = "conv64k3p1-relu-pool2-conv64k3-relu-pool2-dense256-relu-dense64-relu-dense10"

_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+)"
_TOKEN = re.compile(r"([a-z_]+)(?:(%s)((?:[a-z]%s)*))?(?:@([a-z0-9_.]+))?$" % (_NUMBER, _NUMBER))
_PAIR = re.compile(r"([a-z])(%s)" % _NUMBER)


def _number(text, where, layer_type, field, index):
    if len(text) > 40:  # int() refuses > 4300 digits; nothing valid has more than a few
        raise layer_error(where, layer_type, field, "the number %s has %d digits; expected at most 40"
                    % (clip(text), len(text)), index)
    return float(text) if "." in text else int(text)


def parse_token(token, where, index=None, presets=()):
    """'conv64k3p1' -> {'type': 'conv', 'channels': 64, 'kernel': 3, 'padding': 1}, plus the
    token itself under ``_token``. ``presets``: names offered when the token is a misspelt one."""
    text = token.strip().lower()
    match = _TOKEN.match(text)
    name = match.group(1) if match else re.match(r"[a-z_]*", text).group(0)
    if not name:
        raise layer_error(where, None, "type", "token %s must start with a layer name such as conv, "
                    "pool, dense or relu" % clip(token), index)
    if name in LAYER_KINDS:
        layer_type, fixed = name, {}
    elif name in SHORT_NAMES:
        layer_type, fixed = SHORT_NAMES[name]
    else:
        names = list(LAYER_KINDS) + list(SHORT_NAMES)
        guess = _closest(name, names + list(presets), ALIASES)
        hint = "; did you mean %r%s?" % (guess, " (a preset)" if guess in presets else "") if guess else ""
        raise layer_error(where, None, "type", "unknown shorthand name %s in token %s%s (known names: %s)"
                    % (clip(name), clip(token), hint, ", ".join(names)), index)
    kind = LAYER_KINDS[layer_type]
    usage = _token_usage(layer_type)
    if not match:
        raise layer_error(where, layer_type, None, "could not read token %s; expected %s"
                    % (clip(token), usage), index)
    entry = dict(fixed, type=layer_type, _token=token.strip())
    if match.group(2):
        if kind.main is None:
            raise layer_error(where, layer_type, None, "token %s: %s takes no number; expected %s"
                        % (clip(token), name, usage), index)
        entry[kind.main] = _number(match.group(2), where, layer_type, kind.main, index)
    for letter, value in _PAIR.findall(match.group(3) or ""):
        if letter not in kind.letters:
            raise layer_error(where, layer_type, None, "token %s: unknown letter %r; expected %s"
                        % (clip(token), letter, usage), index)
        entry[kind.letters[letter]] = _number(value, where, layer_type, kind.letters[letter], index)
    if match.group(4):
        if kind.word is None:
            raise layer_error(where, layer_type, None, "token %s: %s takes no '@' suffix; expected %s"
                        % (clip(token), name, usage), index)
        entry[kind.word] = match.group(4)
    return entry


def _token_usage(layer_type):
    kind = LAYER_KINDS[layer_type]
    if kind.main is None:
        return "%r alone" % layer_type
    pairs = ", ".join("%s=%s" % (k, f) for k, f in kind.letters.items())
    word = " then @<%s>" % kind.word if kind.word else ""
    return "%s<%s>%s%s" % (layer_type, kind.main,
                           " then letter-number pairs (%s)" % pairs if pairs else "", word)


def parse_shorthand(text):
    """A shorthand string as its list of tokens (each read later by ``parse_token``)."""
    tokens = [t.strip() for t in text.split("-")]
    if not text.strip():
        raise SpecError("the spec is empty; expected at least one layer, e.g. %r" % SEED_SHORTHAND)
    for i, token in enumerate(tokens):
        if not token:
            raise SpecError("shorthand %s: empty token at position %d (two '-' in a row?)"
                            % (clip(text), i), index=i)
    return tokens


def _format_number(value):
    return format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)


def layer_token(entry):
    """The shorthand token of a canonical entry (defaults left out)."""
    layer_type = entry["type"]
    kind = LAYER_KINDS[layer_type]
    names = [(layer_type, {})] + [(n, f) for n, (t, f) in SHORT_NAMES.items() if t == layer_type]
    candidates = []
    for name, fixed in names:
        if any(entry[f] != v for f, v in fixed.items()):
            continue
        letters = ""
        for letter, field in kind.letters.items():
            default = kind.fields[field].default
            default = entry[default.field] if isinstance(default, SameAs) else default
            if entry[field] != default:
                letters += letter + _format_number(entry[field])
        main = ""
        if kind.main is not None and (letters or entry[kind.main] != kind.fields[kind.main].default):
            if entry[kind.main] is None:  # letters need the main number first: none to write
                continue
            main = _format_number(entry[kind.main])
        word = "@" + entry[kind.word] if kind.word and entry[kind.word] is not None else ""
        hidden = [f for f in kind.fields
                  if f not in (kind.main, kind.word) and f not in kind.letters.values()]
        if all(entry[f] == fixed.get(f, kind.fields[f].default) for f in hidden):
            candidates.append(name + main + letters + word)
    if not candidates:
        raise SpecError("layer %s has no shorthand form (its %r is not set, but other fields "
                        "are); write it as a dict" % (json.dumps(entry), kind.main))
    return candidates[0]  # the type's own name when it can say everything
