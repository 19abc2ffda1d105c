"""The README's main-job command, run as a user would: ``scripts/demo.sh``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tunehouse.settings import Settings
from tunehouse.store.records import TaskQuery, TaskStatus
from tunehouse.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.tf
@pytest.mark.slow
def test_demo_script_tracks_a_training_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
    env["TUNEHOUSE_HOME"] = str(home)
    done = subprocess.run(["scripts/demo.sh", "--epochs", "2", "--export-dir",
                           str(tmp_path / "export")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "keras cnn" in done.stdout  # the task table printed at the end

    store = SqlStore.from_settings(Settings.from_env(env=env))
    try:
        (task,) = store.tasks.list_tasks(TaskQuery(project="examples/mnist")).tasks
        assert task.status == TaskStatus.completed
        metrics = {(m.title, m.series) for m in store.events.get_metric_summaries(task.id)}
        assert ("accuracy", "validation") in metrics and ("loss", "train") in metrics
        (model,) = store.models.list_models(task_id=task.id)
        assert model.version == 1
    finally:
        store.close()
