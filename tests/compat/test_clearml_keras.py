"""The source document's training script, as published, with the real clearml SDK (its
Keras/TensorFlow bindings) against a real tunehouse server: what it records is read back
through tunehouse's store, its command line and its web UI (headless Chromium).

What the SDK 2.1.12 sends for this script (Keras 3, ``tf.keras.callbacks.TensorBoard``):
the TensorBoard binding turns the callback's summaries into scalars, per epoch
``epoch_loss``/``epoch_accuracy``/``epoch_learning_rate`` (series the same name, and
``validation: epoch_loss``/``validation: epoch_accuracy``), per training step at each
epoch's end ``evaluation_loss_vs_iterations``/``evaluation_accuracy_vs_iterations``;
``histogram_freq`` histograms as plots (``<model>_<layer>_<weight>``/``histogram``) and
``write_images`` kernels and biases as debug images uploaded to the file server. Its
absl binding records TensorFlow's flags under ``TF_DEFINE/*``. ``model.save`` goes
through the Keras binding: an ``OutputModel`` named ``<task name> - <file stem>``,
framework ``Keras``, its weights uploaded when the task has an output destination.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.compat.conftest import Key
from tests.compat.test_clearml_sdk import _git_repo
from tests.helpers.browser import PageWatch, login
from tests.helpers.clearml import SdkRun, run_sdk, sdk_env
from tests.helpers.cli import run_cli
from tests.helpers.server import ServerProcess
from tunehouse.store.records import TaskStatus

pytestmark = [pytest.mark.tf, pytest.mark.timeout(420)]

# The document's script: its imports, create_model, Task.init and task.connect(params) as
# published. The document shows no data loading, fit or save: the offline digits (8x8,
# upscaled 3x and padded to 28x28x1) stand in for its images, fit has a TensorBoard
# callback (histograms and weight images on, so the binding sends all it can) and the
# model is saved with model.save. Task.init has no output_uri, as published: the weights
# reach the server through the SDK's configured default output destination
# (CLEARML_DEFAULT_OUTPUT_URI, what clearml.conf's sdk.development.default_output_uri
# sets), see ``_recorded``. The last prints are the test's.
SCRIPT = """
import json
import numpy as np
import tensorflow as tf
from tensorflow import keras
from sklearn.datasets import load_digits


def create_model(learning_rate=0.001, dropout_rate=0.5):
    model = keras.Sequential([
        keras.layers.Conv2D(32, 3, activation='relu', input_shape=(28, 28, 1)),
        keras.layers.MaxPooling2D(),
        keras.layers.Dropout(dropout_rate),
        keras.layers.Conv2D(64, 3, activation='relu'),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation='relu'),
        keras.layers.Dense(10, activation='softmax')
    ])
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    model.compile(optimizer=optimizer,
                  loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    return model


from clearml import Task, Logger

task = Task.init(
    project_name="hyperparameter_search",
    task_name="tf_cnn_baseline",
    task_type="training"
)
params = {
    "learning_rate": 0.001,
    "dropout_rate": 0.3,
    "batch_size": 32,
    "epochs": 10
}
task.connect(params)

digits = load_digits()
images = np.kron(digits.images, np.ones((3, 3))) / 16.0
x = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., np.newaxis].astype("float32")
y = digits.target
x_train, y_train, x_val, y_val = x[:1500], y[:1500], x[1500:], y[1500:]

model = create_model(params["learning_rate"], params["dropout_rate"])
history = model.fit(x_train, y_train, batch_size=params["batch_size"],
                    epochs=params["epochs"], validation_data=(x_val, y_val),
                    callbacks=[keras.callbacks.TensorBoard(log_dir="./logs", histogram_freq=1,
                                                           write_images=True)])
model.save("tf_cnn_baseline.keras")

print("HISTORY=" + json.dumps(history.history))
print("TASK_ID=" + task.id)
"""

#: ceil(1500 training digits / batch size 32): the training steps of an epoch.
STEPS = 47
EPOCHS = 10
GENERAL = {"learning_rate": "0.001", "dropout_rate": "0.3", "batch_size": "32",
           "epochs": "10"}
#: The scalars the TensorBoard binding sends, (title, series) -> iterations.
SCALARS = {
    **{pair: list(range(EPOCHS)) for pair in (
        ("epoch_loss", "epoch_loss"), ("epoch_loss", "validation: epoch_loss"),
        ("epoch_accuracy", "epoch_accuracy"),
        ("epoch_accuracy", "validation: epoch_accuracy"),
        ("epoch_learning_rate", "epoch_learning_rate"))},
    **{(title, title): [STEPS * (epoch + 1) for epoch in range(EPOCHS)] for title in (
        "evaluation_loss_vs_iterations", "evaluation_accuracy_vs_iterations")},
}
MODEL_NAME = "tf_cnn_baseline - tf_cnn_baseline"


@dataclass(frozen=True)
class Recorded:
    """The document's script, run once for the module."""

    run: SdkRun
    task_id: str
    commit: str
    repo: Path


@pytest.fixture(scope="module")
def recorded(server: ServerProcess, admin_key: Key, sdk_python: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("keras")
    commit = _git_repo(root / "repo")  # one commit and an uncommitted change
    env = sdk_env(server.url, admin_key.access_key, admin_key.secret_key, root / "sdk")
    env["CLEARML_DEFAULT_OUTPUT_URI"] = f"{server.url}/clearml-files"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    run = run_sdk(sdk_python, SCRIPT, env, root / "repo", timeout=300)
    assert run.returncode == 0, run.stderr
    yield Recorded(run, run.value("TASK_ID"), commit, root / "repo")


def test_the_documents_keras_script_is_recorded(recorded: Recorded, server: ServerProcess,
                                                admin_key: Key) -> None:
    task_id = recorded.task_id
    history = json.loads(recorded.run.value("HISTORY"))
    with server.store() as store:
        task = store.tasks.get_task(task_id)
        assert (task.project, task.name, task.type.value, task.status, task.user) == (
            "hyperparameter_search", "tf_cnn_baseline", "training", TaskStatus.completed,
            admin_key.user)
        assert task.last_iteration == STEPS * EPOCHS
        params = store.tasks.get_parameters(task_id)
        assert {p.name: p.value for p in params if p.section == "General"} == GENERAL
        assert {p.section for p in params} == {"General", "TF_DEFINE"}  # absl's flags
        script = store.tasks.get_script(task_id)
        assert (script.commit, script.branch, script.entry_point) == (
            recorded.commit, "main", "train.py")
        assert "+changed" in script.diff
        packages = store.tasks.get_environment(task_id).packages
        assert "clearml == 2.1.12" in packages
        assert any(p.startswith("tensorflow") for p in packages), packages
        lines = [line.text for line in store.events.get_logs(task_id, limit=100_000)]
        assert f"Epoch {EPOCHS}/{EPOCHS}" in lines and f"TASK_ID={task_id}" in lines

        series = {(s.title, s.series): s for s in store.events.get_scalars(task_id)}
        keras_series = {key: s for key, s in series.items() if not key[0].startswith(":")}
        assert {key: s.x for key, s in keras_series.items()} == SCALARS
        # the values are Keras' own, epoch by epoch
        for (title, name), key in ((("epoch_loss", "epoch_loss"), "loss"),
                                   (("epoch_loss", "validation: epoch_loss"), "val_loss"),
                                   (("epoch_accuracy", "epoch_accuracy"), "accuracy")):
            assert series[(title, name)].y == pytest.approx(history[key], rel=1e-5)
        assert series[("evaluation_accuracy_vs_iterations",) * 2].y == pytest.approx(
            history["val_accuracy"], rel=1e-5)

        artifacts = store.artifacts.list_artifacts(task_id)
        kinds = {a.kind for a in artifacts}
        assert {"clearml-file", "clearml-plot", "clearml-debug-image"} <= kinds
        plots = {a.name.split("/")[1] for a in artifacts if a.kind == "clearml-plot"}
        assert "sequential_conv2d_kernel" in plots  # histograms, one per weight and epoch
        images = [a for a in artifacts if a.kind == "clearml-debug-image"]
        assert {a.metadata["iteration"] for a in images} == set(range(EPOCHS))
        assert all(a.content_type.startswith("image/") for a in images)

        # model.save: a tunehouse model version of the task, the saved file's bytes
        saved = (recorded.repo / "tf_cnn_baseline.keras").read_bytes()
        models = store.models.list_models(task_id=task_id)
        assert [(m.name, m.version, m.framework, m.sha256, m.size) for m in models] == [
            (MODEL_NAME, 1, "Keras", hashlib.sha256(saved).hexdigest(), len(saved))]
        assert models[0].metadata["uri"].startswith(f"{server.url}/clearml-files/")

    env = server.client_env()
    shown = run_cli("tasks", "show", task_id, env=env, ok=True).stdout
    for text in ("tf_cnn_baseline", "hyperparameter_search", "training", "completed",
                 "learning_rate", "dropout_rate", "epoch_loss", "validation: epoch_accuracy",
                 f"main {recorded.commit[:12]}", MODEL_NAME):
        assert text in shown, (text, shown)
    packages = run_cli("tasks", "show", task_id, "--packages", env=env, ok=True).stdout
    assert "clearml == 2.1.12" in packages
    assert "+changed" in run_cli("tasks", "show", task_id, "--diff", env=env, ok=True).stdout
    console = run_cli("tasks", "show", task_id, "--console", env=env, ok=True).stdout
    assert f"Epoch {EPOCHS}/{EPOCHS}" in console

    listed = run_cli("tasks", "list", "--project", "hyperparameter_search", "--columns",
                     "param:General/learning_rate,param:General/batch_size",
                     "--columns", "metric:epoch_accuracy/validation: epoch_accuracy:max",
                     env=env, ok=True).stdout
    # the table fits the console's width: long cells end in "…"
    row = next(line for line in listed.splitlines() if task_id[:16] in line)
    best = max(history["val_accuracy"])
    for cell in ("tf_cnn_baseline", "training", "completed", "0.001", "32", f"{best:.6g}"):
        assert cell in row, (cell, listed)


@pytest.mark.browser
def test_the_task_page_shows_parameters_scalars_and_model(
        recorded: Recorded, server: ServerProcess, anonymous_page,  # type: ignore[no-untyped-def]
        watch: PageWatch) -> None:
    page = anonymous_page
    login(page, server)
    page.goto(f"{server.url}/tasks/{recorded.task_id}")
    assert page.locator("h1").inner_text().startswith("tf_cnn_baseline")
    page.click("nav.tabs a[data-tab=parameters]")
    assert page.locator("#parameters h3").all_inner_texts() == ["General", "TF_DEFINE"]
    general = page.locator("#parameters table.params").first
    assert {row.locator("th").inner_text(): row.locator("td code").inner_text()
            for row in general.locator("tr").all()} == GENERAL
    page.click("nav.tabs a[data-tab=scalars]")
    page.wait_for_selector("#charts[data-drawn] .chart svg.main-svg")
    charts = {chart.get_attribute("data-title"): chart.get_attribute("data-points")
              for chart in page.locator("#charts .chart").all()}
    assert {title: charts.get(title) for title in ("epoch_loss", "epoch_accuracy")} == {
        "epoch_loss": str(2 * EPOCHS), "epoch_accuracy": str(2 * EPOCHS)}
    assert charts.get("evaluation_loss_vs_iterations") == str(EPOCHS)
    page.click("nav.tabs a[data-tab=code]")
    assert recorded.commit in page.locator("#code").inner_text()
    page.click("nav.tabs a[data-tab=artifacts]")
    assert f"{MODEL_NAME} v1" in page.locator("#artifacts").inner_text()
    watch.check()
