"""Task.init wall time, each run in a fresh process: ``from tunehouse import Task`` plus
``Task.init(...)``, ``Task.init`` alone, and the whole process (interpreter start to exit,
which includes the exit handler waiting for the background capture).

Run: ``.venv/bin/python benchmarks/task_init.py [--runs N] [--python PATH] [--source DIR]...
[--no-server]``

``--python`` measures another interpreter (for example a scratch virtualenv with a few
hundred packages); tunehouse is taken from this checkout (``PYTHONPATH``), or from each
``--source`` folder (one holding a ``tunehouse`` package, say a copy of an older version),
their runs interleaved so that a busy machine slows each alike. The processes
run in a small git repository, with every capture switch on (the defaults), against the
embedded store and against a local server started from this checkout. One warm-up run per
mode creates the database and the bytecode caches first; ``PYTHONDONTWRITEBYTECODE`` is
dropped from the children's environment so that, as on a user's machine, imports read
cached bytecode. Target: import + init under 300 ms. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.sdk_overhead import INIT_SCRIPT  # noqa: E402 - the same measured script
from tests.helpers.server import clean_env, running_server  # noqa: E402


def make_git_repo(path: Path) -> None:
    """A small repository with one commit and one uncommitted change (what git capture
    records for a typical training script)."""
    path.mkdir(parents=True)
    (path / "train.py").write_text("print('train')\n")
    if shutil.which("git") is None:
        return
    env = clean_env(GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
                    GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    for args in (["init", "-q"], ["add", "train.py"], ["commit", "-q", "-m", "init"],
                 ["remote", "add", "origin", "https://example.com/bench.git"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    (path / "train.py").write_text("print('train, changed')\n")


def run_once(python: str, env: dict[str, str], cwd: Path, source: Path) -> dict[str, float]:
    env = dict(env, PYTHONPATH=str(source))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    done = subprocess.run([python, "-c", INIT_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=300, check=False, cwd=cwd)
    process_s = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark script failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = process_s
    return dict(result)


def figures(label: str, python: str, env: dict[str, str], cwd: Path, runs: int,
            sources: list[Path]) -> None:
    for source in sources:
        run_once(python, env, cwd, source)  # warm-up: database, bytecode caches
    results: dict[Path, list[dict[str, float]]] = {source: [] for source in sources}
    for _ in range(runs):
        for source in sources:
            results[source].append(run_once(python, env, cwd, source))
    for source, found in results.items():

        def median_ms(key: str, found: list[dict[str, float]] = found) -> float:
            return statistics.median(r[key] for r in found) * 1000

        both = statistics.median(r["import_s"] + r["init_s"] for r in found) * 1000
        name = f" {source}" if len(sources) > 1 else ""
        print(f"[{label}{name}] median of {runs} fresh processes: import + Task.init "
              f"{both:.0f} ms (import {median_ms('import_s'):.0f} ms, Task.init "
              f"{median_ms('init_s'):.0f} ms); whole process {median_ms('process_s'):.0f} ms",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the measured processes (default: this one)")
    parser.add_argument("--source", type=Path, action="append",
                        help="folder holding the tunehouse package to measure (repeatable; "
                             "default: this checkout)")
    parser.add_argument("--no-server", action="store_true", help="embedded store only")
    args = parser.parse_args()
    sources = [path.resolve() for path in args.source or [REPO]]
    info = subprocess.run(
        [args.python, "-c", "import sys, importlib.metadata as m; "
         "print(sys.version.split()[0], len(list(m.distributions())))"],
        capture_output=True, text=True, check=True).stdout.split()
    print(f"python {info[0]} ({args.python}), {info[1]} installed distributions", flush=True)
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-") as tmp:
        work = Path(tmp) / "project"
        make_git_repo(work)
        home = Path(tmp) / "home"
        home.mkdir()
        figures("embedded", args.python, clean_env(TUNEHOUSE_HOME=str(home)), work, args.runs,
                sources)
        if args.no_server:
            return
        with running_server(Path(tmp) / "server") as server:
            figures("server", args.python, server.client_env(), work, args.runs, sources)


if __name__ == "__main__":
    main()
