#!/usr/bin/env bash
# The main job: a tracked training run of the example Keras CNN (the source document's
# model) on scikit-learn's offline handwritten digits, recorded in the embedded store
# (SQLite + local files under $TUNEHOUSE_HOME, default ~/.tunehouse). No other service.
# Extra arguments go to examples/keras_cnn.py, e.g. `scripts/demo.sh --epochs 5`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
export TUNEHOUSE_HOME="${TUNEHOUSE_HOME:-$HOME/.tunehouse}"
unset TUNEHOUSE_SERVER
.venv/bin/python examples/keras_cnn.py "$@"
echo
echo "Recorded in $TUNEHOUSE_HOME. Latest runs:"
.venv/bin/tunehouse tasks list --project examples/mnist --limit 5
echo "Everything one run recorded: .venv/bin/tunehouse tasks show <id>"
echo "Serve them to the SDK/CLI of your team: .venv/bin/tunehouse server --data-dir $TUNEHOUSE_HOME"
