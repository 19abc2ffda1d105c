"""Helpers shared by the contract tests of every area."""

from __future__ import annotations

import io
import uuid

from tunehouse.store.base import Store
from tunehouse.store.records import (
    StatusChange,
    TaskCreate,
    TaskStatus,
)

S = TaskStatus


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def batch_id() -> str:
    return uuid.uuid4().hex


def new_task(store: Store, project: str | None = None, **fields: object) -> str:
    spec = TaskCreate(project=project or unique("proj"), name=str(fields.pop("name", "task")),
                      **fields)  # type: ignore[arg-type]
    return store.tasks.create_task(spec).id


def move(store: Store, task_id: str, status: TaskStatus, **fields: object) -> None:
    store.tasks.change_status(task_id, StatusChange(status=status, **fields))  # type: ignore[arg-type]


def put_bytes(store: Store, data: bytes) -> tuple[str, int]:
    blob = store.artifacts.put_blob(io.BytesIO(data))
    return blob.sha256, blob.size


PATH_TO = {
    S.created: [],
    S.queued: [S.queued],
    S.in_progress: [S.in_progress],
    S.completed: [S.in_progress, S.completed],
    S.failed: [S.in_progress, S.failed],
    S.aborted: [S.aborted],
}


def task_in(store: Store, status: TaskStatus, queue: str) -> str:
    """A new task brought to ``status`` along the shortest allowed path."""
    task_id = new_task(store)
    for step in PATH_TO[status]:
        if step is S.queued:
            store.queues.enqueue(task_id, queue)
        else:
            move(store, task_id, step, worker="w")
    assert store.tasks.get_task(task_id).status is status
    return task_id
