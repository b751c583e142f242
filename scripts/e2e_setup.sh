#!/usr/bin/env bash
# System packages of the browser end-to-end test (tests/e2e): Debian's chromium + chromium-driver,
# and postgresql for the metadata DB (the test falls back to SQLite without it).
# Idempotent and quiet: installs only what is missing (scripts/apt_install.sh), at once when all is present.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)

exec "$(dirname "$0")/apt_install.sh" e2e_setup "${missing[@]}"
