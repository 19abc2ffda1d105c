"""``tunehouse hpo`` end to end on the embedded store (the command in-process): start with
a YAML space, show, export, list; bad input is one line and exit code 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.helpers.cli import CliResult, run_cli
from tests.helpers.server import clean_env
from tests.hpo.helpers import Env
from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.store.records import TaskQuery, TaskStatus, TaskType

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(env: Env, *args: str) -> CliResult:
    """``tunehouse ARGS`` in-process (trials still run as subprocesses of its agent)."""
    return run_cli(*args, cwd=env.home, env=clean_env(
        TUNEHOUSE_HOME=str(env.home), PYTHONPATH=str(REPO_ROOT), COLUMNS="200"))


def test_start_show_export_list(env: Env) -> None:
    base = env.base_task(epochs=3)
    space = env.home / "space.yaml"
    space.write_text("x: uniform(0.0, 1.0)\ny: choice([0.2, 0.6, 0.9])\n")
    done = _cli(env, "hpo", "start", "--base-task", base[:10], "--space", str(space),
                "--objective", "objective/value:max", "--strategy", "tpe",
                "--max-trials", "4", "--local", "2", "--seed", "3", "--no-warm")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "leaderboard (4 trials)" in done.stdout
    # not a terminal: one plain line per finished trial instead of the live line
    finished = [line for line in done.stdout.splitlines() if line.startswith("trial ")]
    assert sorted(line.split(":")[0] for line in finished) == [
        f"trial {n} completed" for n in range(4)], done.stdout
    assert all(" done | " in line for line in finished)
    assert "\r" not in done.stdout
    assert "best parameters: Args/x=" in done.stdout
    assert f"rerun the best: tunehouse tasks clone {base}" in done.stdout
    searches = env.store.tasks.list_tasks(TaskQuery(type=[TaskType.optimizer])).tasks
    assert len(searches) == 1 and searches[0].status is TaskStatus.completed
    search = searches[0].id
    assert HyperParameterOptimizer.resume(search, store=env.store,
                                          settings=env.settings).config.warm is False
    shown = _cli(env, "hpo", "show", search[:10])
    assert shown.returncode == 0 and "leaderboard (4 trials)" in shown.stdout
    exported = _cli(env, "hpo", "export", search, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"completed"}
    assert rows[0]["rank"] == "1" and "Args/x" in rows[0]
    assert float(rows[0]["objective/value"]) >= float(rows[-1]["objective/value"])
    as_json = json.loads(_cli(env, "hpo", "export", search, "--format", "json").stdout)
    assert sorted(t["number"] for t in as_json) == [0, 1, 2, 3]
    listed = _cli(env, "hpo", "list")
    assert search in listed.stdout
    assert _cli(env, "hpo", "list", "--ids").stdout == f"{search}\n"


def test_bad_input_is_one_line(env: Env) -> None:
    base = env.base_task()
    space = env.home / "space.yaml"
    space.write_text("x: uniform(1.0, 0.5)\n")
    done = _cli(env, "hpo", "start", "--base-task", base, "--space", str(space),
                "--objective", "objective/value:max")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "x" in done.stderr and \
        len(done.stderr.strip().splitlines()) == 1
    space.write_text("nope: choice([1, 2])\n")
    done = _cli(env, "hpo", "start", "--base-task", base, "--space", str(space),
                "--objective", "objective/value:max")
    assert done.returncode == 2 and "nope" in done.stderr
    done = _cli(env, "hpo", "start", "--base-task", base, "--space", str(space),
                "--objective", "novalue")
    assert done.returncode == 2 and "TITLE/SERIES" in done.stderr
    done = _cli(env, "hpo", "show", base)
    assert done.returncode == 2 and "not a search" in done.stderr
