# Sourced by the other scripts: a virtual environment with the pinned dependencies.
# Installs are fast and repeatable because constraints.txt locks every package.
VENV="${LEADSCORE_VENV:-.venv}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "» creating virtual environment $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.leadscore-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "» installing pinned dependencies (constraints.txt)" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[dev]"
  touch "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
