#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, mypy, pytest. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# The funnel report is checked in a real headless browser: Debian's chromium.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "» installing chromium (Debian) for the report rendering test" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "» ruff" >&2
"$VENV/bin/ruff" check .
echo "» mypy" >&2
"$VENV/bin/mypy"
echo "» pytest" >&2
"$VENV/bin/python" -m pytest "$@"
