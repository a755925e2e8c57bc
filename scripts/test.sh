#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, mypy, pytest. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
echo "» ruff" >&2
"$VENV/bin/ruff" check .
echo "» mypy" >&2
"$VENV/bin/mypy"
echo "» pytest" >&2
"$VENV/bin/python" -m pytest "$@"
