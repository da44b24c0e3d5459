"""Sphinx configuration of the fmnist_gluon docs site.

Build it (``pip install -e .[docs]``)::

    sphinx-build -W -b html docs docs/_build/html

The pages are the Markdown files of this folder (myst-parser); ``api.md`` is generated from the
docstrings by autodoc. ``-W`` makes every warning an error, as the tests and CI run it.
"""
import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))
import fmnist_gluon  # noqa: E402

project = "fmnist_gluon"
author = "fmnist_gluon contributors"
release = version = fmnist_gluon.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/rungs/**", "Thumbs.db", ".DS_Store"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"
napoleon_numpy_docstring = True
napoleon_google_docstring = False

# Pages and docstrings that are not what Sphinx expects, handled here so the files stay as
# their writers (the ladder, other modules) made them.

def _title_reports(app, docname, source):
    """results/NAME/results.md are written by the ladder without a heading: give each one a
    title (the toctree needs it) naming the folder."""
    if docname.startswith("results/") and not source[0].lstrip().startswith("#"):
        source[0] = "# Results: %s\n\n%s" % (docname.split("/")[1], source[0])


def _folder_links(app, docname, source):
    """A link to a folder (GitHub shows its files) has no page here: keep the text as code."""
    source[0] = re.sub(r"\[([^\]]+)\]\((results/[^)#]+/)\)", r"`docs/\2`", source[0])


def _quiet(text):
    """docutils warnings of ``text`` as reST, Sphinx roles (:class:`x`) read as plain literals."""
    import io

    from docutils.core import publish_doctree

    stream = io.StringIO()
    publish_doctree(re.sub(r":[a-z:]+:`", "`", text),
                    settings_overrides={"warning_stream": stream, "report_level": 2,
                                        "halt_level": 5})
    return stream.getvalue()


def _plain_docstrings(app, what, name, obj, options, lines):
    """Docstrings are written as plain text; one that is not valid reST is shown preformatted
    (as it reads in the source) instead of failing the -W build."""
    if lines and _quiet("\n".join(lines)):
        lines[:] = ["::", ""] + ["    " + line for line in lines] + [""]


def setup(app):
    app.connect("source-read", _title_reports)
    app.connect("source-read", _folder_links)
    app.connect("autodoc-process-docstring", _plain_docstrings, priority=600)  # after napoleon


html_theme = "alabaster"
html_title = "fmnist_gluon"
html_static_path = []
