"""The ``queues`` area: tasks waiting for agents, claimed atomically, and the workers
(agents) that register by heartbeat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from tunehouse.server.api._deps import Acting, TaskId, operation
from tunehouse.store.records import (
    NAME_MAX,
    Input,
    Queue,
    QueueEntry,
    Task,
    Worker,
    WorkerHeartbeat,
)

router = APIRouter(tags=["queues"])


class QueueCreate(Input):
    name: str = Field(min_length=1, max_length=NAME_MAX)


class ClaimRequest(Input):
    queues: list[str] = Field(min_length=1)
    worker: str = Field(min_length=1, max_length=NAME_MAX)


class EnqueueRequest(Input):
    queue: str = Field(min_length=1, max_length=NAME_MAX)
    priority: int = 0


MAX_AGE_S = 366 * 86400.0


@operation(router, "queues.enqueue", response_model=Task)
def enqueue(task_id: TaskId, body: EnqueueRequest, who: Acting) -> Task:
    return who.store.queues.enqueue(task_id, body.queue, body.priority)


@operation(router, "queues.dequeue", response_model=Task)
def dequeue(task_id: TaskId, who: Acting) -> Task:
    return who.store.queues.dequeue(task_id)


@operation(router, "queues.get_or_create_queue", response_model=Queue)
def get_or_create_queue(body: QueueCreate, who: Acting) -> Queue:
    return who.store.queues.get_or_create_queue(body.name)


@operation(router, "queues.list_queues", response_model=list[Queue])
def list_queues(who: Acting) -> list[Queue]:
    return who.store.queues.list_queues()


@operation(router, "queues.claim_task", response_model=Task | None)
def claim_task(body: ClaimRequest, who: Acting) -> Task | None:
    """The next task of the first non-empty queue, now ``in_progress`` on ``worker``;
    ``null`` when every queue is empty."""
    return who.store.queues.claim_task(body.queues, body.worker)


@operation(router, "queues.list_queue_entries", response_model=list[QueueEntry])
def list_queue_entries(queue: str, who: Acting) -> list[QueueEntry]:
    """Entries in claim order."""
    return who.store.queues.list_queue_entries(queue)


@operation(router, "queues.heartbeat", response_model=Worker)
def heartbeat(body: WorkerHeartbeat, who: Acting) -> Worker:
    return who.store.queues.heartbeat(body)


@operation(router, "queues.list_workers", response_model=list[Worker])
def list_workers(who: Acting,
                 max_age_s: Annotated[float | None, Query(gt=0, le=MAX_AGE_S)] = None) -> list[Worker]:
    """Workers, optionally only those that sent a heartbeat in the last ``max_age_s``."""
    return who.store.queues.list_workers(max_age_s=max_age_s)
