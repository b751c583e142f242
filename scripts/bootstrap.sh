#!/usr/bin/env bash
# Create .venv with the project (editable, with its `devserver` and `chart` extras) and the `dev` dependency group
# (PEP 735, pyproject.toml); idempotent and fast when nothing changed.
# Uses uv from a bootstrap venv when it can be installed, plain pip (>= 25.1, for --group) otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: $PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); the project needs >= 3.11 (set PYTHON=...)" >&2
  exit 1
fi
stamp=.venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then exit 0; fi
if [ ! -x .bootstrap/bin/uv ]; then
  "$PY" -m venv .bootstrap && .bootstrap/bin/pip install -q --disable-pip-version-check uv || true
fi
if [ -x .bootstrap/bin/uv ]; then
  [ -x .venv/bin/python ] || .bootstrap/bin/uv venv -q --python "$PY" .venv
  # Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on our machines), every test
  # subprocess would otherwise recompile Airflow from source.
  VIRTUAL_ENV=.venv .bootstrap/bin/uv pip install --compile-bytecode -e ".[devserver,chart]" --group dev
else
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "pip>=25.1"
  .venv/bin/pip install -q --disable-pip-version-check -e ".[devserver,chart]" --group dev  # pip compiles bytecode itself
fi
touch "$stamp"
