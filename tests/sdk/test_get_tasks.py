"""``Task.get_tasks``: stored tasks found by project, name, tags, status, filters and order,
archived ones included unless asked otherwise; on the embedded store and through the
session's server."""

from __future__ import annotations

import uuid

import pytest

from tests.sdk.conftest import Backend
from tunehouse.errors import InvalidInput
from tunehouse.sdk.task import Task
from tunehouse.store.records import (
    EventBatch,
    Parameter,
    ScalarEvent,
    StatusChange,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
)


def _seed(backend: Backend, project: str) -> dict[str, str]:
    """Four tasks: lr 0.1/0.01/0.001 with a loss each, one of them completed and one
    archived, plus a task without either."""
    store = backend.store
    ids = {}
    for name, lr, loss in (("a", "0.1", 0.5), ("b", "0.01", 0.2), ("c", "0.001", 0.9)):
        task = store.tasks.create_task(TaskCreate(project=project, name=name, tags=["trial"]))
        store.tasks.set_parameters(task.id, [Parameter(section="General", name="lr", value=lr,
                                                       type="float")])
        store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id,
                                           scalars=[ScalarEvent("loss", "val", 0, loss, 1.0)]))
        ids[name] = task.id
    store.tasks.change_status(ids["b"], StatusChange(status=TaskStatus.in_progress))
    store.tasks.change_status(ids["b"], StatusChange(status=TaskStatus.completed))
    store.tasks.update_task(ids["c"], TaskUpdate(tags=["trial", "archived"]))
    ids["bare"] = store.tasks.create_task(TaskCreate(project=project, name="bare")).id
    return ids


def test_get_tasks_filters_orders_and_leaves_out_archived_on_request(sdk_env: Backend) -> None:
    project = f"sdk/get-{uuid.uuid4().hex[:8]}"
    ids = _seed(sdk_env, project)

    def names(**kwargs: object) -> list[str]:
        return [task.name for task in Task.get_tasks(project_name=project, **kwargs)]  # type: ignore[arg-type]

    assert names() == ["bare", "c", "b", "a"]  # newest first, archived included
    assert names(allow_archived=False) == ["bare", "b", "a"]
    assert names(tags=["trial"], allow_archived=False) == ["b", "a"]
    assert names(task_name="b") == ["b"]
    assert names(status="completed") == ["b"]
    assert names(status=["created", "completed"], tags=["archived"]) == ["c"]
    assert names(filters=["param:General/lr < 0.05"]) == ["c", "b"]
    assert names(order_by="metric:loss/val", descending=False) == ["b", "a", "c", "bare"]
    assert names(order_by="param:General/lr", descending=False, allow_archived=False) \
        == ["b", "a", "bare"]  # a task lacking the parameter comes last
    [found] = Task.get_tasks(project_name=project, task_name="a")
    assert found.id == ids["a"] and found.get_parameters()["General/lr"] == 0.1
    with pytest.raises(InvalidInput, match="unknown task status"):
        Task.get_tasks(project_name=project, status="sleeping")
    with pytest.raises(InvalidInput, match="nope"):
        Task.get_tasks(project_name=project, filters=["nope > 1"])
