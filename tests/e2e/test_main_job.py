"""The README's main-job command, run as a user would: ``scripts/demo.sh``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

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
    done = subprocess.run(["scripts/demo.sh", "--trials", "4", "--epochs", "2"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "leaderboard (4 trials)" in done.stdout
    assert "best parameters: General/learning_rate=" in done.stdout
    assert "rerun the best: tunehouse tasks clone" in done.stdout
    assert "Epoch 1/2" not in done.stdout  # framework output goes to the logs, not here
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


def _untracked() -> set[str]:
    """Changed, untracked and ignored files of the repository, caches left out."""
    done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all",
                           "--ignored"], cwd=ROOT, capture_output=True, text=True, check=True)
    # test-output/ is where other tests, running beside this one, put their screenshots
    caches = (".venv/", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
              ".egg-info", ".pyc", "test-output/")
    return {line for line in done.stdout.splitlines()
            if not any(cache in line for cache in caches)}
