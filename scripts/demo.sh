#!/usr/bin/env bash
# The main job: a tracked hyperparameter search of the example Keras CNN (the source
# document's model) on scikit-learn's offline handwritten digits, on the embedded default
# (SQLite + local files under $TUNEHOUSE_HOME, default ~/.tunehouse). No other service.
#
#   1. a baseline run of examples/keras_cnn.py, recorded as the search's base task;
#   2. a BOHB search (TPE + Hyperband) over examples/search_space.yaml, trials run two at
#      a time by an agent inside the search process; a live progress line, then the
#      leaderboard, the best parameters and the command that reruns them.
#
# Options: --trials N (default 20), --epochs N (default 6), --concurrency N (default 2),
# --seed S (default 0). Nothing is written into the repository: exported models go to a
# temporary folder, framework output to $TUNEHOUSE_HOME/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=20 EPOCHS=6 CONCURRENCY=2 SEED=0
while [ $# -gt 0 ]; do
    case "$1" in
        --trials) TRIALS=$2; shift 2 ;;
        --epochs) EPOCHS=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        *) echo "unknown option $1 (use --trials, --epochs, --concurrency, --seed)" >&2; exit 2 ;;
    esac
done
scripts/setup-env.sh
export TUNEHOUSE_HOME="${TUNEHOUSE_HOME:-$HOME/.tunehouse}"
unset TUNEHOUSE_SERVER
export TF_CPP_MIN_LOG_LEVEL=2
REPO=$(pwd)
mkdir -p "$TUNEHOUSE_HOME/logs"
LOG="$TUNEHOUSE_HOME/logs/baseline-$(date +%Y%m%d-%H%M%S).log"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "1/2 baseline: the example CNN, $EPOCHS epochs (log: $LOG)"
# run from an empty folder with a relative export path: the baseline and every trial
# export their model inside their own working folder, never into the repository
(cd "$WORK" && "$REPO/.venv/bin/python" "$REPO/examples/keras_cnn.py" --epochs "$EPOCHS" \
    --export-dir exported-model) > "$LOG" 2>&1 || { tail -20 "$LOG"; exit 1; }
BASE=$(sed -n 's/^task id: //p' "$LOG" | tail -1)
echo "    task $BASE, $(grep '^final validation accuracy' "$LOG")"

echo "2/2 search: BOHB over examples/search_space.yaml, $TRIALS trials, $CONCURRENCY at a time"
.venv/bin/tunehouse hpo start --base-task "$BASE" --space examples/search_space.yaml \
    --objective accuracy/validation:max --strategy bohb --max-trials "$TRIALS" \
    --local "$CONCURRENCY" --concurrency "$CONCURRENCY" --min-iteration 1 \
    --max-failed 5 --seed "$SEED" --name "search: keras cnn on digits"
echo
echo "Recorded in $TUNEHOUSE_HOME. Next:"
echo "  .venv/bin/tunehouse hpo list                 # searches"
echo "  .venv/bin/tunehouse hpo show <search id>     # the leaderboard again"
echo "  .venv/bin/tunehouse tasks show <task id>     # everything a trial recorded"
echo "  .venv/bin/tunehouse server --data-dir $TUNEHOUSE_HOME   # serve it to your team"
