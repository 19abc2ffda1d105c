#!/usr/bin/env bash
# Run the whole test suite (SQLite, PostgreSQL, real servers, real TensorFlow). Extra
# arguments go to pytest, e.g. `scripts/test.sh -k contract`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
exec .venv/bin/python -m pytest "$@"
