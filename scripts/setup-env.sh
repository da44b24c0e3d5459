# Sourced by scripts/test.sh and scripts/ablation.sh: makes a fresh Debian machine ready.
#   1. the Debian package dataset-fashion-mnist (the real data, under /usr/share/datasets),
#   2. a virtual environment .venv made with Python 3.11 (MXNet 1.9.1 does not run on 3.12+),
#   3. this package and its pinned dependencies installed into it.
# Set FMNIST_SKIP_APT=1 to skip step 1 (for machines without root where the data is elsewhere).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ "${FMNIST_SKIP_APT:-0}" != "1" ] && [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  echo "== installing the Debian package dataset-fashion-mnist"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(not ((3, 8) <= sys.version_info[:2] < (3, 12)))'; then
      PY="$cand"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "error: fmnist_gluon needs Python 3.8-3.11 (MXNet 1.9.1 does not run on 3.12+)." >&2
  echo "       Install python3.11 or set PYTHON=/path/to/python3.11 and run again." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $PY"
  "$PY" -m venv .venv
fi
STAMP=.venv/.fmnist-installed
if [ ! -f "$STAMP" ] || [ setup.py -nt "$STAMP" ]; then
  echo "== installing fmnist_gluon and its pinned dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # every extra the tests exercise: CI must run the Ray, ONNX, notebook, docs and TensorBoard
  # tests (Ray adds about 420 MB)
  .venv/bin/python -m pip install -q -e ".[test,ray,onnx,docs,notebook,tensorboard]"
  touch "$STAMP"
fi
# PyTorch and Keras for benchmarks/bench_peers.py, in a venv of their own: beside torch 2,
# gluoncv 0.10.5 refuses to import its model zoo. Set FMNIST_SKIP_PEERS=1 to skip.
PEERS_STAMP=.venv-peers/.installed
if [ "${FMNIST_SKIP_PEERS:-0}" != "1" ] && { [ ! -f "$PEERS_STAMP" ] || [ setup.py -nt "$PEERS_STAMP" ]; }; then
  echo "== installing PyTorch and Keras into .venv-peers (benchmarks/bench_peers.py)"
  [ -x .venv-peers/bin/python ] || "$PY" -m venv .venv-peers
  .venv-peers/bin/python -m pip install -q "numpy==1.23.5" "torch==2.13.0" "tensorflow-cpu==2.17.1" "keras==3.15.1"
  touch "$PEERS_STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
