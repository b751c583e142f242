#!/usr/bin/env bash
# System packages of the distributed-Airflow suite (tests/distributed, `make e2e-distributed`):
# Debian's postgresql (the metadata DB and Celery's result backend) and redis-server (Celery's broker).
# Idempotent and quiet: installs only what is missing (scripts/apt_install.sh), at once when all is present.
# Neither package's own service is used: the suite starts its own PostgreSQL cluster and Redis server
# on free loopback ports, in temp dirs.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

exec "$(dirname "$0")/apt_install.sh" distributed_setup "${missing[@]}"
