#!/usr/bin/env bash
# The peer frameworks for benchmarks/bench_peers.py, in their own virtual environment .venv-peers:
# PyTorch 2.13.0 (CPU), TensorFlow-CPU 2.17.1 and Keras 3.15.1. They cannot share .venv with
# fmnist_gluon: gluoncv 0.10.5 refuses to import (RuntimeError) beside torch >= 2.0.
#   bash scripts/setup-peers.sh       then   python benchmarks/bench_peers.py
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3.11}"
STAMP=.venv-peers/.peers-installed
if [ ! -f "$STAMP" ] || [ scripts/setup-peers.sh -nt "$STAMP" ]; then
  echo "== installing torch, tensorflow-cpu and keras into .venv-peers"
  [ -x .venv-peers/bin/python ] || "$PY" -m venv .venv-peers
  .venv-peers/bin/python -m pip install -q --upgrade pip
  .venv-peers/bin/python -m pip install -q "torch==2.13.0" "tensorflow-cpu==2.17.1" "keras==3.15.1" "numpy<2"
  touch "$STAMP"
fi
