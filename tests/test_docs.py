"""The docs site builds with Sphinx with every warning an error (as CI builds it)."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_docs_build_without_warnings(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                           "html", "-d", str(tmp_path / "doctrees"), os.path.join(REPO, "docs"),
                           str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    html = tmp_path / "html"
    api = (html / "api.html").read_text(encoding="utf-8")
    for name in ("build_cnn", "fit", "load_dataset", "export_onnx", "plan_run", "load_image"):
        assert 'id="fmnist_gluon.' in api and name in api, name
    assert (html / "cli.html").is_file() and (html / "results" / "full" / "results.html").is_file()
