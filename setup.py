"""Packaging for fmnist_gluon.

The pins are the combination measured to work together: MXNet 1.9.1 is the last
release and imports only with numpy < 1.24; gluoncv 0.10.5.post0 works beside it.
MXNet 1.9.1 has no wheels that work on Python 3.12+, hence ``python_requires``.
"""
import os
import sys

from setuptools import find_packages, setup

if sys.version_info >= (3, 12):
    sys.exit(
        "fmnist_gluon needs Python 3.8-3.11: mxnet 1.9.1 (the last MXNet release) does not "
        "run on Python %d.%d. Create the environment with python3.11 -m venv .venv."
        % sys.version_info[:2]
    )

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    LONG_DESCRIPTION = f.read()

setup(
    name="fmnist_gluon",
    version="0.1.0",
    description="Build, train and compare convolutional networks on Fashion-MNIST with MXNet Gluon",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["fmnist_gluon", "fmnist_gluon.*"]),
    python_requires=">=3.8,<3.12",
    install_requires=[
        "mxnet==1.9.1",
        "numpy>=1.17,<1.24",
        "gluoncv==0.10.5.post0",
        # Welch's t-test in ladder reports (stats.py); gluoncv needs scipy too. 1.11 added the
        # test's df and confidence_interval; 1.16 needs numpy >= 1.25.
        "scipy>=1.11,<1.16",
        "matplotlib>=3.3",
        "tqdm>=4.40",
        "PyYAML>=5.1",
        "Pillow>=8",  # image files for predict; matplotlib depends on it already
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6.100,<7", "ruff==0.17.6"],
        # Ladder and sweeps on Ray (docs/distributed.md). pyarrow 26 needs numpy 2, which pip
        # does not see from Ray's requirements: pinned below it.
        "ray": ["ray[tune]==2.60.0", "pyarrow<26"],
        # fmnist-gluon export --format onnx, and onnxruntime to run the file (both measured to
        # install and work beside numpy 1.23.5 on Python 3.11; onnx < 1.17 still has the
        # onnx.mapping module that mxnet.onnx 1.9.1 uses)
        "onnx": ["onnx==1.16.2", "onnxruntime==1.32.0"],
        # the docs site: sphinx-build -W docs docs/_build/html
        "docs": ["sphinx==9.0.4", "myst-parser==5.2.0"],
        # examples/quickstart.py as a notebook, executed headless by the tests
        "notebook": ["jupytext==1.19.6", "nbclient==0.11.0", "ipykernel==7.4.0"],
        # fmnist_gluon.tensorboard.TensorBoardLogger
        "tensorboard": ["tensorboardX==2.6.5"],
        # benchmarks/bench_peers.py: the same network and loop in PyTorch and Keras. These pins
        # install beside numpy 1.23.5 on Python 3.11 (TensorFlow 2.18+ needs numpy >= 1.26).
        # Install them in a venv of their own (scripts/setup-env.sh makes .venv-peers): beside
        # torch 2, gluoncv 0.10.5 refuses to import its model zoo.
        "peers": ["torch==2.13.0", "tensorflow-cpu==2.17.1", "keras==3.15.1"],
    },
    entry_points={"console_scripts": ["fmnist-gluon=fmnist_gluon.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
