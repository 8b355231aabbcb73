#!/usr/bin/env bash
# Install a headless browser for tests/test_html.py (Debian's chromium). Idempotent: does nothing
# when chromium is already on PATH. Needs root (or sudo) and the Debian archive.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# refresh the package lists only when chromium is unknown to apt (a fresh container)
if ! apt-cache show chromium >/dev/null 2>&1; then
    $SUDO apt-get update -q
fi
install() { $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null; }
# stale package lists name files the mirror no longer has: refresh once and retry
install || { $SUDO apt-get update -q && install; }
command -v chromium >/dev/null
