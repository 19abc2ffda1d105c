"""The document's example, ``examples/keras_cnn.py``, on the offline digits data: runs in
under a minute and records everything the document lists (real TensorFlow)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import ServerProcess, clean_env
from tests.integrations.conftest import REPO_ROOT, open_home_store, run_python, scalars_by_key
from tunehouse.store.records import TaskQuery, TaskStatus

pytestmark = pytest.mark.tf

EXAMPLE = REPO_ROOT / "examples" / "keras_cnn.py"
TIME_LIMIT_S = 60.0


def run_example(env: dict[str, str], cwd: Path) -> tuple[str, float, float]:
    started = time.monotonic()
    run = run_python([str(EXAMPLE), "--epochs", "2"], env=env, cwd=cwd, timeout=180)
    elapsed = time.monotonic() - started
    lines = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    return lines["task id"].strip(), float(lines["final validation accuracy"]), elapsed


def check_recorded(store: Any, task_id: str, accuracy: float) -> None:
    task = store.tasks.get_task(task_id)
    assert (task.project, task.name, task.type.value) == ("examples/mnist", "keras cnn",
                                                          "training")
    assert task.status == TaskStatus.completed

    script = store.tasks.get_script(task_id)
    assert script.entry_point.endswith("keras_cnn.py")
    assert script.repository or "create_model" in script.script_text
    assert "--epochs" in script.argv

    env = store.tasks.get_environment(task_id)
    assert env.seed is not None
    assert any(p.lower().startswith(("tensorflow", "keras")) for p in env.packages)

    params = {(p.section, p.name): p.value for p in store.tasks.get_parameters(task_id)}
    assert params[("General", "learning_rate")] == "0.001"
    assert params[("General", "dropout_rate")] == "0.3"
    assert params[("General", "batch_size")] == "32"
    assert params[("General", "epochs")] == "2"
    assert params[("Args", "dataset")] == "digits"
    assert params[("Args", "epochs")] == "2"

    scalars = scalars_by_key(store, task_id)
    for key in (("accuracy", "train"), ("accuracy", "validation"), ("loss", "train"),
                ("loss", "validation"), ("learning_rate", "train")):
        assert set(scalars[key]) == {0, 1}, key
    assert scalars[("accuracy", "validation")][1] == pytest.approx(accuracy, abs=1e-4)

    models = store.models.list_models(task_id=task_id)
    assert [(m.name, m.framework, m.format) for m in models] == [
        ("keras_cnn", "tensorflow", "saved_model")]
    assert models[0].size > 10_000


def test_example_embedded(tmp_path: Path, home: Path) -> None:
    task_id, accuracy, elapsed = run_example(clean_env(TUNEHOUSE_HOME=str(home)), tmp_path)
    assert elapsed < TIME_LIMIT_S
    assert accuracy > 0.5, "two epochs on the digits learn something"
    assert (tmp_path / "exports" / "keras_cnn" / "saved_model.pb").exists()
    store = open_home_store(home)
    try:
        check_recorded(store, task_id, accuracy)
        assert store.tasks.list_tasks(TaskQuery()).total == 1
    finally:
        store.close()


def test_example_through_a_server(tmp_path: Path, home: Path,
                                  shared_server: ServerProcess) -> None:
    server = shared_server  # the records are read back by task id: a shared server will do
    task_id, accuracy, elapsed = run_example(server.client_env(home=home), tmp_path)
    assert elapsed < TIME_LIMIT_S
    store = server.store()
    try:
        check_recorded(store, task_id, accuracy)
    finally:
        store.close()
