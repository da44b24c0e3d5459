"""Packaging: Python 3.12+ is refused early and clearly, by pip and at import."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run the check with sys.version_info patched to 3.12 before the package or setup.py loads.
PATCH = "import sys; sys.version_info = (3, 12, 0, 'final', 0); "


def _run(code):
    return subprocess.run([sys.executable, "-c", PATCH + code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_import_on_python_312_fails_with_a_clear_message():
    proc = _run("import fmnist_gluon")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "does not run on Python 3.12" in proc.stderr
    assert "mxnet" not in proc.stderr.split("ImportError")[0].lower()  # before MXNet loads


def test_setup_py_refuses_python_312():
    proc = _run("sys.argv = ['setup.py', '--version']; exec(open('setup.py').read())")
    assert proc.returncode != 0
    assert "Python 3.8-3.11" in proc.stderr and "3.12" in proc.stderr


def test_setup_py_pins_the_working_stack():
    text = open(os.path.join(REPO, "setup.py")).read()
    for pin in ('"mxnet==1.9.1"', '"numpy>=1.17,<1.24"', '"gluoncv==0.10.5.post0"',
                'python_requires=">=3.8,<3.12"', '"fmnist-gluon=fmnist_gluon.cli:main"'):
        assert pin in text, pin
