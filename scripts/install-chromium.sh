#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (tests/ui): they drive it
# headless with Playwright, by executable path (no browser download). Needs root and apt.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${TUNEHOUSE_CHROMIUM:-}" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: Chromium is missing; install it (Debian: apt-get install chromium)" \
         "or point TUNEHOUSE_CHROMIUM at a Chromium binary" >&2
    exit 1
fi
echo "install-chromium: apt-get install chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends chromium >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
chromium --version
