"""The document's example, ``examples/keras_cnn.py``, on the offline digits data: runs in
under a minute and records everything the document lists (real TensorFlow). On Keras 3's
other backends (JAX, PyTorch; run where they are installed) it imports no TensorFlow."""

from __future__ import annotations

import ast
import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import ServerProcess, clean_env
from tests.integrations.conftest import REPO_ROOT, open_home_store, run_python, scalars_by_key
from tunehouse.store.records import TaskQuery, TaskStatus

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
        ("keras cnn", "tensorflow", "saved_model")]  # the task's name
    assert models[0].size > 10_000


@pytest.mark.tf
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


@pytest.mark.tf
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


def test_example_imports_tensorflow_only_for_mirrored() -> None:
    """Keras is imported as Keras 3 (``import keras``); TensorFlow only where
    ``--mirrored`` asks for ``tf.distribute.MirroredStrategy``."""
    tree = ast.parse(EXAMPLE.read_text())
    importers: dict[str, set[str]] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    for module in _imported_modules(node):
                        importers.setdefault(module, set()).add(function.name)
    top_level = {module for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                 for module in _imported_modules(node)}
    assert "tensorflow" not in top_level and "keras" not in top_level
    assert importers["tensorflow"] == {"distribution_scope"}
    assert "create_model" in importers["keras"]


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [(node.module or "").split(".")[0]]
    return [alias.name.split(".")[0] for alias in node.names]


# Runs the example's main() in-process so that it can tell whether TensorFlow was imported
# before the model is saved (Keras' own .keras saver imports TensorFlow when installed).
OTHER_BACKEND_RUNNER = """
import importlib.util, json, sys
example, *args = sys.argv[1:]
sys.argv = [example, *args]
spec = importlib.util.spec_from_file_location("keras_cnn", example)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
seen = {}
save_model = module.save_model

def checked_save_model(model, export_dir):
    import keras
    seen["backend"] = keras.backend.backend()
    seen["tensorflow_imported"] = sorted(
        name for name in sys.modules if name.split(".")[0] == "tensorflow")[:5]
    return save_model(model, export_dir)

module.save_model = checked_save_model
module.main(args)
print("RESULT " + json.dumps(seen))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_example_on_another_backend_imports_no_tensorflow(backend: str, tmp_path: Path,
                                                           home: Path) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = clean_env(TUNEHOUSE_HOME=str(home), KERAS_BACKEND=backend)
    run = run_python(["-c", OTHER_BACKEND_RUNNER, str(EXAMPLE), "--epochs", "2"], env=env,
                     cwd=tmp_path, timeout=300)
    assert run.result == {"backend": backend, "tensorflow_imported": []}
    lines = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    task_id, accuracy = lines["task id"].strip(), float(lines["final validation accuracy"])
    assert accuracy > 0.5
    store = open_home_store(home)
    try:
        assert store.tasks.get_task(task_id).status == TaskStatus.completed
        scalars = scalars_by_key(store, task_id)
        for key in (("accuracy", "train"), ("accuracy", "validation"), ("loss", "train"),
                    ("loss", "validation"), ("learning_rate", "train")):
            assert set(scalars[key]) == {0, 1}, key
        models = store.models.list_models(task_id=task_id)
        assert [(m.name, m.framework, m.format) for m in models] == [
            ("keras_cnn", "keras", "keras")]
    finally:
        store.close()
