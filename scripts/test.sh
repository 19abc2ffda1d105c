#!/usr/bin/env bash
# Run the whole test suite (SQLite, PostgreSQL, real servers, real TensorFlow, the web UI
# in headless Chromium, LDAP sign-in against a real slapd; Chromium and slapd are
# installed from Debian's packages when missing). Extra arguments go to pytest, e.g.
# `scripts/test.sh -k contract`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
scripts/install-test-deps.sh
exec .venv/bin/python -m pytest "$@"
