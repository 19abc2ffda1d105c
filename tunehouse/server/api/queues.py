"""Queues: tasks waiting for agents, claimed atomically."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from tunehouse.server.api._deps import Acting
from tunehouse.store.records import NAME_MAX, Input, Queue, QueueEntry, Task

router = APIRouter(tags=["queues"])


class QueueCreate(Input):
    name: str = Field(min_length=1, max_length=NAME_MAX)


class ClaimRequest(Input):
    queues: list[str] = Field(min_length=1)
    worker: str = Field(min_length=1, max_length=NAME_MAX)


@router.post("/queues", response_model=Queue)
def get_or_create_queue(body: QueueCreate, who: Acting) -> Queue:
    return who.store.get_or_create_queue(body.name)


@router.get("/queues", response_model=list[Queue])
def list_queues(who: Acting) -> list[Queue]:
    return who.store.list_queues()


@router.post("/queues/claim", response_model=Task | None)
def claim_task(body: ClaimRequest, who: Acting) -> Task | None:
    """The next task of the first non-empty queue, now ``in_progress`` on ``worker``;
    ``null`` when every queue is empty."""
    return who.store.claim_task(body.queues, body.worker)


@router.get("/queues/{name}/entries", response_model=list[QueueEntry])
def list_queue_entries(name: str, who: Acting) -> list[QueueEntry]:
    """Entries in claim order."""
    return who.store.list_queue_entries(name)
