"""The README's main-job command, run as a user would: ``scripts/demo.sh --serve``: the
search, then its page in the web UI, served on the search's data until stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.helpers.server import free_port
from tests.helpers.web import sign_in
from tunehouse.settings import Settings
from tunehouse.store.records import TaskQuery, TaskStatus, TaskType
from tunehouse.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.tf
@pytest.mark.slow
def test_demo_script_runs_a_tracked_search(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
    env["TUNEHOUSE_HOME"] = str(home)
    before = _untracked()
    port = free_port()
    demo = subprocess.Popen(["scripts/demo.sh", "--trials", "4", "--epochs", "2", "--serve",
                             "--port", str(port)], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    watchdog = threading.Timer(900, os.killpg, (demo.pid, signal.SIGKILL))
    watchdog.start()
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # until the server runs (or the script ended)
            lines.append(line)
            if line.startswith("serving on "):
                break
        output = "".join(lines)
        assert "serving on " in output, output[-6000:]
        _see_the_search_page(output, port, home)
    finally:
        os.killpg(demo.pid, signal.SIGTERM)  # what Ctrl-C does: the server ends with it
        demo.wait(timeout=60)
        watchdog.cancel()
    assert "leaderboard (4 trials)" in output
    assert "best parameters: General/learning_rate=" in output
    assert "rerun the best: tunehouse tasks clone" in output
    assert "Epoch 1/2" not in output  # framework output goes to the logs, not here
    assert _untracked() == before, "the main job wrote into the repository"

    store = SqlStore.from_settings(Settings.from_env(env=env))
    try:
        (search,) = store.tasks.list_tasks(TaskQuery(type=[TaskType.optimizer])).tasks
        assert search.status is TaskStatus.completed
        trials = store.tasks.list_tasks(TaskQuery(parent_id=search.id)).tasks
        assert len(trials) == 4
        assert all(t.status in (TaskStatus.completed, TaskStatus.aborted) for t in trials)
        completed = [t for t in trials if t.status is TaskStatus.completed]
        assert completed
        metrics = {(m.title, m.series) for m in store.events.get_metric_summaries(completed[0].id)}
        assert ("accuracy", "validation") in metrics and ("loss", "train") in metrics
        assert store.models.list_models(task_id=completed[0].id)
    finally:
        store.close()


def _see_the_search_page(output: str, port: int, home: Path) -> None:
    """The output names the search's page and how to sign in (not a terminal: where the
    password is, not the password); signed in so, the page shows the search."""
    page = next(line.split(": ", 1)[1] for line in output.splitlines()
                if line.startswith("The search in the web UI: "))
    assert page.startswith(f"http://127.0.0.1:{port}/searches/")
    credentials = home / "credentials.json"
    assert f"sign in as admin, password in {credentials}" in output
    # not a terminal: one plain line per finished trial, no live progress line
    assert sum(line.startswith("trial ") for line in output.splitlines()) == 4, output
    secrets = json.loads(credentials.read_text())
    assert secrets["password"] not in output
    web = sign_in(page.split("/searches/")[0], secrets["user"], secrets["password"],
                  headers={"Accept": "text/html"})
    try:
        shown = web.get(page)
    finally:
        web.close()
    assert shown.status_code == 200, shown.text[:2000]
    assert "search: keras cnn on digits" in shown.text and 'id="search-timeline"' in shown.text


def _untracked() -> set[str]:
    """Changed, untracked and ignored files of the repository, caches left out."""
    done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all",
                           "--ignored"], cwd=ROOT, capture_output=True, text=True, check=True)
    # test-output/ is where other tests, running beside this one, put their screenshots
    caches = (".venv/", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
              ".egg-info", ".pyc", "test-output/")
    return {line for line in done.stdout.splitlines()
            if not any(cache in line for cache in caches)}
