#!/usr/bin/env bash
# The tests start their own PostgreSQL server; this installs Debian's server programs if
# they are missing (as root, or with sudo). Nothing is started or configured here.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "Installing PostgreSQL's server programs (Debian package postgresql) for the tests..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
