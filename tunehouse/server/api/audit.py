"""Audit events: who did what to which record."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from tunehouse.server.api._deps import Acting
from tunehouse.store.records import NAME_MAX, AuditEvent, Input

router = APIRouter(tags=["audit"])


class AuditCreate(Input):
    action: str = Field(min_length=1, max_length=NAME_MAX)
    target_type: str = Field(min_length=1, max_length=64)
    target_id: str = Field(min_length=1, max_length=NAME_MAX)
    details: dict[str, Any] | None = None


@router.post("/audit", response_model=AuditEvent, status_code=201)
def add_audit_event(body: AuditCreate, who: Acting) -> AuditEvent:
    return who.store.add_audit_event(body.action, body.target_type, body.target_id,
                                     body.details)


@router.get("/audit", response_model=list[AuditEvent])
def list_audit_events(who: Acting, target_type: str | None = None,
                      target_id: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[AuditEvent]:
    """Newest first."""
    return who.store.list_audit_events(target_type=target_type, target_id=target_id,
                                       limit=limit)
