#!/usr/bin/env bash
# Set up everything (data package, .venv, package) and run the ablation ladder.
#   bash scripts/ablation.sh                 the quick ladder (a subset, a few minutes)
#   bash scripts/ablation.sh --full          the seed's full ladder (50/50/50/100 epochs)
# Other arguments go to examples/ablation.py, e.g. `--full --rungs bn,dropout --out runs/bn`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh"
args=()
quick="--quick"
for a in "$@"; do
  if [ "$a" = "--full" ]; then quick=""; else args+=("$a"); fi
done
exec python examples/ablation.py $quick "${args[@]+"${args[@]}"}"
