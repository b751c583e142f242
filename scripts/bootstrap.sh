#!/usr/bin/env bash
# Create .venv with the project and its dev/test dependencies; idempotent and fast when nothing changed.
# Uses uv from a bootstrap venv when it can be installed, plain pip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then exit 0; fi
if [ ! -x .bootstrap/bin/uv ]; then
  "$PY" -m venv .bootstrap && .bootstrap/bin/pip install -q --disable-pip-version-check uv || true
fi
if [ -x .bootstrap/bin/uv ]; then
  [ -x .venv/bin/python ] || .bootstrap/bin/uv venv -q --python "$PY" .venv
  # Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on our machines), every test
  # subprocess would otherwise recompile Airflow from source.
  VIRTUAL_ENV=.venv .bootstrap/bin/uv pip install --compile-bytecode -e ".[dev]"
else
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"  # pip compiles bytecode itself
fi
touch "$stamp"
