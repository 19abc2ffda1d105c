#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with everything the main
# job and the tests need. Re-installs only when pyproject.toml or this script changed.
# Installs with uv (parallel downloads and installs, with progress), falling back to pip.
# Bytecode is compiled at install (compileall over site-packages, which also covers a venv
# made by an older version of this script): with PYTHONDONTWRITEBYTECODE=1 (set on our
# machines) nothing would ever be cached, and every new process would compile TensorFlow
# and Keras from source (11 s to import them here instead of 5 s).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip uv || .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.tunehouse-installed
want=$(cat pyproject.toml scripts/setup-env.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing tunehouse with TensorFlow and the test tools into .venv (once; a few minutes the first time)"
    if [ ! -x .venv/bin/uv ]; then
        .venv/bin/python -m pip install -q uv || true
    fi
    if [ -x .venv/bin/uv ] && .venv/bin/uv pip install --python .venv/bin/python \
            -e ".[dev,tensorflow,s3]"; then
        :
    else
        echo "setup: uv unavailable or failed; installing with pip"
        .venv/bin/python -m pip install -q -e ".[dev,tensorflow,s3]"
    fi
    echo "setup: compiling bytecode"
    .venv/bin/python -m compileall -q -j 0 \
        "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
        >/dev/null || true  # a few test and template files of some packages do not compile
    echo "$want" > "$stamp"
    echo "setup: done"
fi
