#!/usr/bin/env bash
# Install Debian packages for a setup script: `scripts/apt_install.sh WHO [PACKAGE...]`.
# WHO names the caller in messages. Nothing to install returns at once; otherwise apt-get installs
# them quietly (through `sudo -n` when not root), or the script says what to install by hand.
set -euo pipefail

who=$1
shift
if [ "$#" -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: missing $* and no apt-get here; install them by hand" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
fi

echo "$who: installing $*" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
