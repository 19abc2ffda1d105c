#!/usr/bin/env bash
# The main job: a tracked hyperparameter search of the example Keras CNN (the source
# document's model) on scikit-learn's offline handwritten digits, on the embedded default
# (SQLite + local files under $TUNEHOUSE_HOME, default ~/.tunehouse). No other service.
#
#   1. a baseline run of examples/keras_cnn.py, recorded as the search's base task;
#   2. a BOHB search (TPE + Hyperband) over examples/search_space.yaml, trials run two at
#      a time by an agent inside the search process; a live progress line, then the
#      leaderboard, the best parameters and the command that reruns them (the progress
#      line becomes one plain line per finished trial when the output is not a terminal);
#   3. where to see the search in the web UI: its page's address and how to sign in.
#
# Options: --trials N (default 20), --epochs N (default 6), --concurrency N (default 2),
# --seed S (default 0), --port P (the web UI's, default 8420), --serve (then start the
# server on the data and leave it running, on the search's page, until Ctrl-C). Nothing
# is written into the repository: exported models go to a temporary folder, framework
# output to $TUNEHOUSE_HOME/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=20 EPOCHS=6 CONCURRENCY=2 SEED=0 PORT=8420 SERVE=no
while [ $# -gt 0 ]; do
    case "$1" in
        --trials) TRIALS=$2; shift 2 ;;
        --epochs) EPOCHS=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --serve) SERVE=yes; shift ;;
        *) echo "unknown option $1 (use --trials, --epochs, --concurrency, --seed, --port, --serve)" >&2; exit 2 ;;
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
SEARCH=$(.venv/bin/tunehouse hpo list --limit 1 --ids)
PAGE="http://127.0.0.1:$PORT/searches/$SEARCH"
CREDENTIALS="$TUNEHOUSE_HOME/credentials.json"
echo
echo "Recorded in $TUNEHOUSE_HOME. Next:"
echo "  .venv/bin/tunehouse hpo show $SEARCH     # the leaderboard again"
echo "  .venv/bin/tunehouse tasks show <task id>     # everything a trial recorded"
echo
echo "The search in the web UI: $PAGE"
if [ "$SERVE" = no ]; then
    echo "  serve it: .venv/bin/tunehouse server --data-dir $TUNEHOUSE_HOME --port $PORT"
    echo "            (or scripts/demo.sh --serve)"
    echo "  sign in as the user and password in $CREDENTIALS (written on the server's first start)"
    exit 0
fi

# --serve: the server on the same data, until Ctrl-C (it creates the admin on first start)
SERVER_LOG="$TUNEHOUSE_HOME/logs/server-$(date +%Y%m%d-%H%M%S).log"
.venv/bin/tunehouse server --data-dir "$TUNEHOUSE_HOME" --port "$PORT" > "$SERVER_LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'exit 0' INT TERM
STARTED=yes
.venv/bin/python - "$PAGE" <<'PY' || STARTED=no
import sys, time, urllib.error, urllib.request
for _ in range(120):
    try:
        urllib.request.urlopen(sys.argv[1].rsplit("/searches/", 1)[0] + "/login", timeout=2)
        sys.exit(0)
    except (urllib.error.URLError, OSError):
        time.sleep(0.5)
sys.exit(1)
PY
if [ "$STARTED" = no ] || ! kill -0 "$SERVER" 2>/dev/null; then
    echo "the server did not start (log: $SERVER_LOG; is port $PORT taken? --port P):" >&2
    tail -20 "$SERVER_LOG" >&2
    exit 1
fi
USER_NAME=$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["user"])' "$CREDENTIALS")
if [ -t 1 ]; then
    PASSWORD=$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["password"])' "$CREDENTIALS")
    echo "  sign in as $USER_NAME, password $PASSWORD (kept in $CREDENTIALS)"
else
    echo "  sign in as $USER_NAME, password in $CREDENTIALS"
fi
echo "serving on http://127.0.0.1:$PORT (log: $SERVER_LOG); Ctrl-C stops it"
wait "$SERVER"
