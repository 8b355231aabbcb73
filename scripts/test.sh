#!/usr/bin/env bash
# Install what the tests need (system packages, the package with every extra) and run them.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/setup-test-endpoints.sh ]; then
    bash scripts/setup-test-endpoints.sh   # adb, sshd, socat, qemu + the cached arm64 userland
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m pytest "$@"
