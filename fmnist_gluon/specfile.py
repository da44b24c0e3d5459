"""Spec files: read a .json/.yaml/.yml file safely, before anything in it is believed.

YAML is read with ``yaml.SafeLoader`` (python tags are never run), and a document whose aliases
expand past a node ceiling ("billion laughs") or refer to themselves is refused before anything
is constructed. A file over the size ceiling is refused unread. The ceilings are arguments:
``fmnist_gluon.spec`` passes its ``MAX_SPEC_FILE_BYTES`` and ``MAX_YAML_NODES``, read at call
time, so raising them there takes effect. Problems raise :class:`SpecFileError` (a ValueError),
which ``parse_spec`` reports as a ``SpecError``.
"""
import json
import os

import yaml

__all__ = ["SpecFileError", "read_spec_file", "looks_like_path", "SPEC_FILE_EXTENSIONS"]

SPEC_FILE_EXTENSIONS = (".json", ".yaml", ".yml")


class SpecFileError(ValueError):
    """A spec file that cannot be read as a spec: missing, too large, not text, not valid."""


class _SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that checks the node graph (``max_nodes``) before constructing."""

    max_nodes = None

    def construct_document(self, node):
        check_yaml_nodes(node, self.max_nodes)
        return super().construct_document(node)


def check_yaml_nodes(root, max_nodes):
    """Count the nodes of ``root`` with aliases expanded (memoized, so a bomb costs its size in the
    file, not its expansion); raise yaml.YAMLError past ``max_nodes`` or on a cycle."""
    sizes, stack = {}, [(root, False)]
    active = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > max_nodes:
                raise yaml.YAMLError("its aliases expand to more than MAX_YAML_NODES = {:,} nodes (an "
                                     "alias bomb?); write the layers out, or raise fmnist_gluon.spec."
                                     "MAX_YAML_NODES".format(max_nodes))
            continue
        if key in sizes:
            continue
        if key in active:
            raise yaml.YAMLError("an alias refers to a node that contains it (a recursive structure); "
                                 "a spec is a finite list of layers")
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def _load_yaml(text, max_nodes):
    loader = _SpecLoader(text)
    loader.max_nodes = max_nodes
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _cut(text, limit):
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read_spec_file(path, forms, max_bytes, max_nodes):
    """The data in a .json/.yaml/.yml spec file; ``forms`` says what a spec may be (for the
    messages about a missing or empty file)."""
    ext = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise SpecFileError("spec file %r is a folder; give the path of a .json/.yaml file inside it" % path)
    if ext not in SPEC_FILE_EXTENSIONS:
        raise SpecFileError("spec file %r: expected a .json, .yaml or .yml file" % path)
    if not os.path.isfile(path):
        raise SpecFileError("spec file %r not found (expected %s)" % (path, forms))
    kind = ext[1:].upper()
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SpecFileError("spec file %r is larger than MAX_SPEC_FILE_BYTES = %d bytes; is it a spec? "
                                "(raise fmnist_gluon.spec.MAX_SPEC_FILE_BYTES for a larger one)"
                                % (path, max_bytes))
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecFileError("spec file %r is not UTF-8 text (a binary file?): %s" % (path, exc)) from None
    except OSError as exc:
        raise SpecFileError("spec file %r cannot be read: %s" % (path, exc)) from None
    if not text.strip():
        raise SpecFileError("spec file %r is empty; expected %s in it" % (path, forms))
    try:
        return json.loads(text) if ext == ".json" else _load_yaml(text, max_nodes)
    except RecursionError:
        raise SpecFileError("spec file %r is nested too deeply to read; a spec is a flat list of layers"
                            % path) from None
    except (ValueError, yaml.YAMLError) as exc:
        reason = _cut(" ".join(str(exc).split()), 300)
        if "python/" in reason:
            reason += " (spec files are read with a safe loader: python tags are never run)"
        raise SpecFileError("spec file %r is not valid %s: %s" % (path, kind, reason)) from None


def looks_like_path(text):
    """Whether a spec string names a file (a separator, a spec file extension, or a file)."""
    return (os.sep in text or (os.altsep or os.sep) in text
            or text.lower().endswith(SPEC_FILE_EXTENSIONS) or os.path.isfile(text))
