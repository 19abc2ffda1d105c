"""Stored tasks, without a running one: what ``Task``'s class methods and read-outs do.

Creating or reusing (or, under an agent, attaching to) the record ``Task.init`` runs,
finding tasks (``get_task``, ``get_tasks``), ``clone``, ``enqueue``, and reading a task's
scalars, metric summaries and whole record. The functions that return tasks take ``make``,
the class to build them with (``Task``), so this module does not import it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tunehouse.common.retry import retrying
from tunehouse.errors import InvalidInput, NotFound, ServerUnavailable
from tunehouse.sdk import parameters as params
from tunehouse.sdk.offline import OfflineRun, start_offline
from tunehouse.sdk.parameter_edits import clone_with_edits
from tunehouse.sdk.state import RUN_STATE
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.interfaces.queues import DEFAULT_QUEUE
from tunehouse.store.records import (
    ARCHIVED_TAG,
    StatusChange,
    TaskCreate,
    TaskQuery,
    TaskStatus,
    TaskType,
    TaskUpdate,
)
from tunehouse.store.records import Task as TaskRecord
from tunehouse.store.status import TERMINAL

TaskT = TypeVar("TaskT")
MakeTask = Callable[[Store, Settings, TaskRecord], TaskT]


# ==================================================================== Task.init's record
def task_type(value: str | TaskType) -> TaskType:
    """``value`` as a :class:`TaskType`; ``InvalidInput`` listing the known ones."""
    try:
        return TaskType(value)
    except ValueError as exc:
        raise InvalidInput(f"unknown task type {value!r}; known: "
                           f"{', '.join(t.value for t in TaskType)}") from exc


def attach(store: Store, task_id: str) -> TaskRecord:
    """The agent's task ``task_id``, now ``in_progress``. The change is one check-and-set
    in the store, so the processes of a distributed job may all attach at once."""
    return store.tasks.change_status(task_id, StatusChange(status=TaskStatus.in_progress,
                                                           keep_if_same=True))


def open_record(settings: Settings, store: Store, project: str | None, name: str | None,
                kind: TaskType, tags: list[str], reuse: bool | str,
                warn: Callable[[str], None]) -> tuple[Store, TaskRecord, OfflineRun | None]:
    """The record ``Task.init`` runs, and the store it runs on.

    Every step is retried with backoff while the server is unreachable, for
    ``settings.init_timeout_s``; the steps are idempotent (the task id is chosen here, the
    start is a check-and-set), so a server restarting meanwhile leaves no second task.
    When the server stays unreachable a new run goes on offline
    (:mod:`tunehouse.sdk.offline`); attaching under an agent raises instead.
    """
    deadline = time.monotonic() + settings.init_timeout_s
    if settings.task_id:
        task_id = settings.task_id
        return store, retrying(lambda: attach(store, task_id), deadline, _unreachable), None
    if not project or not name:
        raise InvalidInput("Task.init needs project_name and task_name")
    new_id = uuid.uuid4().hex
    try:
        record = retrying(lambda: create_or_reuse(store, project, name, kind, tags, reuse,
                                                  new_id), deadline, _unreachable)
        return store, record, None
    except ServerUnavailable as exc:
        if not settings.server:
            raise
        offline = start_offline(settings, new_id)
        record = create_or_reuse(offline.store, project, name, kind, tags, False, new_id)
        warn(f"tunehouse: the server {settings.server} is unreachable ({exc.message}); "
             f"running offline: everything is recorded in {offline.folder}; run "
             "`tunehouse sync` when the server is back to upload it")
        return offline.store, record, offline


def _unreachable(exc: BaseException) -> bool:
    return isinstance(exc, ServerUnavailable)


def create_or_reuse(store: Store, project: str, name: str, kind: TaskType, tags: list[str],
                    reuse: bool | str, new_id: str | None = None) -> TaskRecord:
    """A new ``in_progress`` task (with id ``new_id`` when given: sent again, it returns
    the same task), or the reused one (see ``Task.init``'s ``reuse_last_task_id``) reset
    and started."""
    record = None
    if isinstance(reuse, str) and reuse:
        record = store.tasks.get_task(reuse)
    elif reuse is True:
        page = store.tasks.list_tasks(TaskQuery(project=project, name=name, order_by="created",
                                          descending=True, limit=20))
        latest = next((r for r in page.tasks if r.name == name), None)
        if latest is not None and _reusable(store, latest):
            record = latest
    if record is not None:
        if record.status != TaskStatus.created:
            record = store.tasks.change_status(record.id, StatusChange(
                status=TaskStatus.created, reason="reused by Task.init", force=True))
        if tags:
            record = store.tasks.update_task(record.id, TaskUpdate(tags=tags))
    else:
        record = store.tasks.create_task(TaskCreate(id=new_id, project=project, name=name,
                                                    type=kind, tags=tags))
    return store.tasks.change_status(record.id, StatusChange(status=TaskStatus.in_progress,
                                                             keep_if_same=True))


def _reusable(store: Store, record: TaskRecord) -> bool:
    if record.status == TaskStatus.created:
        return True
    if record.status not in TERMINAL:
        return False
    return not store.artifacts.list_artifacts(record.id) and not store.models.list_models(task_id=record.id)


# ==================================================================== finding tasks
def get_task(make: MakeTask[TaskT], task_id: str | None, project_name: str | None,
             task_name: str | None) -> TaskT:
    """See :meth:`tunehouse.sdk.task.Task.get_task`."""
    settings, store = RUN_STATE.default_store()
    if task_id:
        return make(store, settings, store.tasks.get_task(task_id))
    if not project_name and not task_name:
        raise InvalidInput("get_task needs task_id, or project_name and/or task_name")
    for task in get_tasks(make, project_name=project_name, task_name=task_name):
        return task
    raise NotFound(f"no task named {task_name!r} in project {project_name!r}")


def get_tasks(make: MakeTask[TaskT], project_name: str | None = None,
              task_name: str | None = None, tags: list[str] | None = None,
              status: str | list[str] | None = None, *, filters: list[str] | None = None,
              order_by: str | None = None, descending: bool = True,
              allow_archived: bool = True) -> list[TaskT]:
    """See :meth:`tunehouse.sdk.task.Task.get_tasks`."""
    settings, store = RUN_STATE.default_store()
    statuses = None
    if status is not None:
        names = [status] if isinstance(status, str) else list(status)
        try:
            statuses = [TaskStatus(name) for name in names]
        except ValueError as exc:
            raise InvalidInput(f"unknown task status in {names}") from exc
    query = TaskQuery(project=project_name, name=task_name, tags=tags, status=statuses,
                      exclude_tags=None if allow_archived else [ARCHIVED_TAG],
                      filters=filters, order_by=order_by or "created", descending=descending,
                      limit=1000)
    return [make(store, settings, record) for record in store.tasks.iter_tasks(query)
            if task_name is None or record.name == task_name]


def clone(make: MakeTask[TaskT], source_id: str, name: str | None, comment: str | None,
          parent_id: str | None, project: str | None,
          overrides: Mapping[str, Any] | None) -> TaskT:
    """See :meth:`tunehouse.sdk.task.Task.clone`."""
    settings, store = RUN_STATE.default_store()
    record = clone_with_edits(store, source_id, name=name, parent_id=parent_id,
                              project=project, comment=comment, edits=overrides)
    return make(store, settings, record)


def enqueue(make: MakeTask[TaskT], task_id: str, queue_name: str | None,
            priority: int) -> TaskT:
    """See :meth:`tunehouse.sdk.task.Task.enqueue`."""
    settings, store = RUN_STATE.default_store()
    return make(store, settings,
                store.queues.enqueue(task_id, queue_name or DEFAULT_QUEUE, priority))


# ==================================================================== reading one task
def reported_scalars(store: Store, task_id: str,
                     max_samples: int) -> dict[str, dict[str, dict[str, list]]]:
    """See :meth:`tunehouse.sdk.task.Task.get_reported_scalars`."""
    result: dict[str, dict[str, dict[str, list]]] = {}
    for series in store.events.get_scalars(task_id, max_points=max_samples or None):
        result.setdefault(series.title, {})[series.series] = {
            "x": list(series.x), "y": list(series.y)}
    return result


def last_scalar_metrics(store: Store,
                        task_id: str) -> dict[str, dict[str, dict[str, float | None]]]:
    """See :meth:`tunehouse.sdk.task.Task.get_last_scalar_metrics`."""
    result: dict[str, dict[str, dict[str, float | None]]] = {}
    for summary in store.events.get_metric_summaries(task_id):
        result.setdefault(summary.title, {})[summary.series] = {
            "last": summary.last, "min": summary.min, "max": summary.max}
    return result


def export_task(store: Store, record: TaskRecord) -> dict[str, Any]:
    """See :meth:`tunehouse.sdk.task.Task.export_task` (``record`` freshly read)."""
    script = store.tasks.get_script(record.id)
    environment = store.tasks.get_environment(record.id)
    return {
        "task": record.model_dump(mode="json"),
        "id": record.id,
        "name": record.name,
        "project": record.project,
        "status": record.status.value,
        "script": script.model_dump(mode="json"),
        "diff": script.diff,
        "packages": list(environment.packages),
        "environment": environment.model_dump(mode="json"),
        "parameters": {
            params.full_name(p.section, p.name): {
                "value": p.value, "type": p.type, "description": p.description}
            for p in store.tasks.get_parameters(record.id)
        },
        "configurations": {c.name: c.text for c in store.tasks.get_configurations(record.id)},
        "metrics": [m.model_dump(mode="json") for m in store.events.get_metric_summaries(record.id)],
        "artifacts": [a.model_dump(mode="json") for a in store.artifacts.list_artifacts(record.id)],
    }
