"""Workers (agents): registration by heartbeat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tunehouse.server.api._deps import Acting
from tunehouse.store.records import Worker, WorkerHeartbeat

router = APIRouter(tags=["workers"])

MAX_AGE_S = 366 * 86400.0


@router.post("/workers/heartbeat", response_model=Worker)
def heartbeat(body: WorkerHeartbeat, who: Acting) -> Worker:
    return who.store.heartbeat(body)


@router.get("/workers", response_model=list[Worker])
def list_workers(who: Acting,
                 max_age_s: Annotated[float | None, Query(gt=0, le=MAX_AGE_S)] = None) -> list[Worker]:
    """Workers, optionally only those that sent a heartbeat in the last ``max_age_s``."""
    return who.store.list_workers(max_age_s=max_age_s)
