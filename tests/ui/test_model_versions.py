"""The models page in real headless Chromium: a search's baseline and trials register
versions of one model named after the base task, and each version shows the run that
made it (task link, the parameters that differ, the last metrics), to pick the one to
promote.

Fails on any JavaScript error (see ``conftest.py``); screenshots go to
``test-output/screenshots``.
"""

from __future__ import annotations

import io
import json
import time
import uuid

import pytest

from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
from tunehouse.sdk.models import SEARCH_BASE_KEY, SEARCH_CONFIG, default_model_name
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Configuration,
    EventBatch,
    ModelCreate,
    Parameter,
    ScalarEvent,
    Task,
    TaskCreate,
    TaskType,
)

pytestmark = pytest.mark.browser


def record_run(store: Store, task: Task, lr: str, accuracy: float) -> None:
    """Parameters, two epochs of metrics and a monitor sample of ``task``."""
    store.tasks.set_parameters(task.id, [
        Parameter(section="General", name="learning_rate", value=lr, type="float"),
        Parameter(section="General", name="batch_size", value="32", type="int")])
    now = time.time()
    store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id, scalars=[
        ScalarEvent("accuracy", "validation", 0, accuracy - 0.1, now),
        ScalarEvent("accuracy", "validation", 1, accuracy, now + 1),
        ScalarEvent("loss", "validation", 1, 1 - accuracy, now + 1),
        ScalarEvent(":monitor:", "cpu_percent", 30, 55.0, now + 1)]))


def register(store: Store, task: Task, blob: str, size: int) -> int:
    """A model version of ``task`` under the SDK's default name; its version number."""
    model = store.models.create_model(ModelCreate(
        name=default_model_name(store, store.tasks.get_task(task.id)), framework="tensorflow",
        project=task.project, task_id=task.id, sha256=blob, size=size, format="saved_model",
        metadata={"filename": "exported-model"}))
    return model.version


def test_search_versions_show_their_runs_and_one_is_promoted(
        page, shared_server: ServerProcess, store: Store, shot) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    project = f"ui-models/{tag}"
    name = f"keras cnn {tag}"
    base = store.tasks.create_task(TaskCreate(project=project, name=name))
    record_run(store, base, "0.001", 0.90)
    search = store.tasks.create_task(TaskCreate(project=project, name="search",
                                                type=TaskType.optimizer))
    store.tasks.set_configuration(search.id, Configuration(
        name=SEARCH_CONFIG, text=json.dumps({SEARCH_BASE_KEY: base.id})))
    trials = [store.tasks.clone_task(base.id, name=f"{name}: trial {n}", parent_id=search.id)
              for n in (0, 1)]
    for trial, lr, accuracy in zip(trials, ("0.0089", "0.02"), (0.95, 0.85), strict=True):
        record_run(store, trial, lr, accuracy)
    blob = store.artifacts.put_blob(io.BytesIO(b"saved model"))
    versions = [register(store, task, blob.sha256, blob.size) for task in (base, *trials)]
    assert versions == [1, 2, 3]

    page.goto(f"{shared_server.url}/models")
    page.click(f"#models a:has-text('{name}')")
    page.wait_for_selector("#versions")
    heads = page.locator("#versions thead th").all_inner_texts()
    # only the searched parameter (batch_size is the same everywhere); no monitor metric
    assert [h for h in heads if "/" in h] == ["General/learning_rate", "accuracy/validation",
                                              "loss/validation"]
    rows = {}
    for row in page.locator("#versions tbody tr").all():
        task = row.locator("td.task a")
        rows[row.get_attribute("data-version")] = (
            task.inner_text(), task.get_attribute("href"),
            row.locator("td.param").all_inner_texts(), row.locator("td.metric").all_inner_texts())
    assert rows == {
        "1": (name, f"/tasks/{base.id}", ["0.001"], ["0.9", "0.1"]),
        "2": (f"{name}: trial 0", f"/tasks/{trials[0].id}", ["0.0089"], ["0.95", "0.05"]),
        "3": (f"{name}: trial 1", f"/tasks/{trials[1].id}", ["0.02"], ["0.85", "0.15"]),
    }
    shot(page, "model-versions-with-runs")

    # the best run (trial 0, v2) is chosen and promoted from the same page
    page.on("dialog", lambda dialog: dialog.accept())
    page.select_option("#promote-version", "2")
    page.click("#promote-form button[type=submit]")
    wait_until(lambda: [m.version for m in store.models.list_models(name=name)
                        if "production" in m.stages] == [2], 15,
               "production to point at the trial's version")
