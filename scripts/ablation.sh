#!/usr/bin/env bash
# Set up everything (data package, .venv, package) and run the ablation ladder.
# Default: the quick ladder (a few minutes). Arguments go to examples/ablation.py, e.g.
#   bash scripts/ablation.sh --full --out runs/full
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh"
if [ "$#" -eq 0 ]; then set -- --quick; fi
exec python examples/ablation.py "$@"
