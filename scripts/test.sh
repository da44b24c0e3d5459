#!/usr/bin/env bash
# Set up everything (data package, .venv, package) and run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k spec -x`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh"
exec python -m pytest tests "$@"
