#!/usr/bin/env bash
# Install what the tests need (system packages, the package with every extra) and run them.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-endpoints.sh   # adb, sshd, socat, qemu + the cached arm64 userland
if [ "$(id -u)" = 0 ]; then
    bash scripts/install-browser.sh    # headless chromium for the HTML leaderboard test
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m pytest "$@"
