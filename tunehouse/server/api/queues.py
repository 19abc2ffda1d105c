"""The ``queues`` area: tasks waiting for agents, claimed atomically, and the workers
(agents) that register by heartbeat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import Field

from tunehouse.server.api._deps import Acting, TaskId, operation
from tunehouse.store.records import (
    CLAIM_WAIT_MAX_S,
    LEASE_S,
    HeartbeatReply,
    Input,
    Name,
    Queue,
    QueueEntry,
    QueuePosition,
    Task,
    Worker,
    WorkerHeartbeat,
)

router = APIRouter(tags=["queues"])


class QueueCreate(Input):
    name: Name


class ClaimRequest(Input):
    queues: list[str] = Field(min_length=1)
    worker: Name
    wait_s: float = Field(default=0.0, ge=0, le=CLAIM_WAIT_MAX_S)
    lease_s: float = Field(default=LEASE_S, gt=0, le=86_400)


class MoveRequest(Input):
    position: QueuePosition


class ReapRequest(Input):
    lost_worker_retries: int = Field(default=2, ge=0, le=100)


class EnqueueRequest(Input):
    queue: Name
    priority: int = 0


MAX_AGE_S = 366 * 86400.0


@operation(router, "queues.enqueue", response_model=Task)
def enqueue(task_id: TaskId, body: EnqueueRequest, who: Acting) -> Task:
    return who.store.queues.enqueue(task_id, body.queue, body.priority)


@operation(router, "queues.dequeue", response_model=Task)
def dequeue(task_id: TaskId, who: Acting) -> Task:
    return who.store.queues.dequeue(task_id)


@operation(router, "queues.move_queued_task", response_model=QueueEntry)
def move_queued_task(task_id: TaskId, body: MoveRequest, who: Acting) -> QueueEntry:
    """Move a queued task to the front or the back of its queue."""
    return who.store.queues.move_queued_task(task_id, body.position)


@operation(router, "queues.get_or_create_queue", response_model=Queue)
def get_or_create_queue(body: QueueCreate, who: Acting) -> Queue:
    return who.store.queues.get_or_create_queue(body.name)


@operation(router, "queues.list_queues", response_model=list[Queue])
def list_queues(who: Acting) -> list[Queue]:
    return who.store.queues.list_queues()


@operation(router, "queues.delete_queue", status_code=204, response_class=Response)
def delete_queue(queue: str, who: Acting) -> Response:
    """Delete an empty queue (409 while tasks wait in it, and for ``default``)."""
    who.store.queues.delete_queue(queue)
    return Response(status_code=204)


@operation(router, "queues.claim_task", response_model=Task | None)
def claim_task(body: ClaimRequest, who: Acting) -> Task | None:
    """The next task of the first non-empty queue, now ``in_progress`` on ``worker`` under
    a lease of ``lease_s``; waits up to ``wait_s`` for one to arrive (long poll), then
    answers ``null``."""
    return who.store.queues.claim_task(body.queues, body.worker, body.wait_s, body.lease_s)


@operation(router, "queues.reap_expired_leases", response_model=list[Task])
def reap_expired_leases(body: ReapRequest, who: Acting) -> list[Task]:
    """Requeue (or fail) the tasks whose worker's lease ran out (the server's watchdog
    does this by itself; this is for deployments that run without it)."""
    return who.store.queues.reap_expired_leases(body.lost_worker_retries)


@operation(router, "queues.list_queue_entries", response_model=list[QueueEntry])
def list_queue_entries(queue: str, who: Acting) -> list[QueueEntry]:
    """Entries in claim order."""
    return who.store.queues.list_queue_entries(queue)


@operation(router, "queues.heartbeat", response_model=HeartbeatReply)
def heartbeat(body: WorkerHeartbeat, who: Acting) -> HeartbeatReply:
    """Register or refresh a worker and renew its leases; the answer names the tasks to
    abort and those it no longer holds."""
    return who.store.queues.heartbeat(body)


@operation(router, "queues.list_workers", response_model=list[Worker])
def list_workers(who: Acting,
                 max_age_s: Annotated[float | None, Query(gt=0, le=MAX_AGE_S)] = None) -> list[Worker]:
    """Workers, optionally only those that sent a heartbeat in the last ``max_age_s``."""
    return who.store.queues.list_workers(max_age_s=max_age_s)
