#!/usr/bin/env bash
# Run the whole test suite (SQLite, PostgreSQL, real servers, real TensorFlow, the web UI
# in headless Chromium, LDAP sign-in against a real slapd; Chromium and slapd are
# installed from Debian's packages when missing). Extra arguments go to pytest, e.g.
# `scripts/test.sh -k contract`. Tests run in parallel on $TUNEHOUSE_TEST_WORKERS pytest-xdist
# workers (default 4: most tests wait on servers, agents and subprocesses, so more workers
# than the 2 cores of our machines pay off); `-n 0` runs them in this process, one by one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
scripts/install-test-deps.sh
exec .venv/bin/python -m pytest -n "${TUNEHOUSE_TEST_WORKERS:-4}" --dist loadgroup "$@"
