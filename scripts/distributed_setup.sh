#!/usr/bin/env bash
# System packages of the distributed-Airflow suite (tests/distributed, `make e2e-distributed`):
# Debian's postgresql (the metadata DB and Celery's result backend) and redis-server (Celery's broker).
# Idempotent and quiet: installs only what is missing, and returns at once when all is present.
# Neither package's own service is used: the suite starts its own PostgreSQL cluster and Redis server
# on free loopback ports, in temp dirs.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "distributed_setup: missing ${missing[*]} and no apt-get here; install them by hand" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
fi

echo "distributed_setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
