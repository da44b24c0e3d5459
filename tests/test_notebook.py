"""examples/quickstart: the .ipynb is the .py (jupytext pair), and it runs headless end to end."""
import os

import pytest

from conftest import REAL_DIR

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(REPO, "examples", "quickstart.py")
NOTEBOOK = os.path.join(REPO, "examples", "quickstart.ipynb")


def cells(nb):
    return [(c.cell_type, c.source) for c in nb.cells]


def test_the_ipynb_is_generated_from_the_py():
    assert cells(jupytext.read(NOTEBOOK)) == cells(jupytext.read(SOURCE)), \
        "examples/quickstart.ipynb is stale: run jupytext --to ipynb examples/quickstart.py"


def test_quickstart_runs_headless(tmp_path, monkeypatch, idx_dir):
    pytest.importorskip("onnxruntime")
    if not os.path.exists(os.path.join(REAL_DIR, "t10k-labels-idx1-ubyte.gz")):
        monkeypatch.setenv("FMNIST_GLUON_DATA", str(idx_dir))  # tiny synthetic set instead
    monkeypatch.setenv("FMNIST_QUICKSTART_TRAIN", os.environ.get("FMNIST_QUICKSTART_TRAIN",
                                                                 "2000"))
    monkeypatch.setenv("FMNIST_QUICKSTART_OUT", str(tmp_path / "out"))
    nb = jupytext.read(SOURCE)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "onnxruntime agrees with MXNet on 100.0%" in text
    assert "epoch 2/2" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images == 3  # curves, confusion matrix, misclassified images
    assert (tmp_path / "out" / "model.onnx").is_file()
