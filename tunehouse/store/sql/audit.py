"""The ``audit`` area on SQL (:mod:`tunehouse.store.interfaces.audit`): reading the log,
and writing an entry that records no change of a record (sign-ins). Entries of changes
are written by each area in the change's transaction
(:meth:`~tunehouse.store.sql.database.SqlArea._audit`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tunehouse.errors import InvalidInput
from tunehouse.store import schema as t
from tunehouse.store.interfaces.audit import AuditStore
from tunehouse.store.records import AuditEvent
from tunehouse.store.sql.database import SqlArea, check_name


def _utc(moment: datetime) -> datetime:
    """``moment`` with a time zone (UTC when it has none)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class SqlAuditStore(SqlArea, AuditStore):
    """The audit log, written as the acting user with this view's actor and client."""

    def record(self, action: str, target_type: str, target_id: str,
               details: dict[str, Any] | None = None, user: str | None = None) -> AuditEvent:
        for kind, value in (("action", action), ("target_type", target_type)):
            check_name(f"audit {kind}", value, max_length=64)
        check_name("audit target", target_id)
        with self._write() as conn:
            return self._audit(conn, action, target_type, target_id, details, user=user)

    def list_audit_events(self, target_type: str | None = None, target_id: str | None = None,
                          limit: int = 100, *, user: str | None = None,
                          actor: str | None = None, action: str | None = None,
                          since: datetime | None = None, until: datetime | None = None,
                          after_id: int | None = None,
                          oldest_first: bool = False) -> list[AuditEvent]:
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000")
        c = t.audit_events.c
        query = (sa.select(t.audit_events)
                 .order_by(c.id.asc() if oldest_first else c.id.desc()).limit(limit))
        for column, value in ((c.target_type, target_type), (c.target_id, target_id),
                              (c.user, user), (c.actor, actor)):
            if value is not None:
                query = query.where(column == value)
        if action is not None:
            query = query.where(c.action.startswith(action[:-1], autoescape=True)
                                if action.endswith("*") else c.action == action)
        if since is not None:
            query = query.where(c.created >= _utc(since))
        if until is not None:
            query = query.where(c.created < _utc(until))
        if after_id is not None:
            query = query.where(c.id > after_id if oldest_first else c.id < after_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [AuditEvent(id=r.id, user=r.user, actor=r.actor, client=r.client,
                           action=r.action, target_type=r.target_type, target_id=r.target_id,
                           details=r.details, created=r.created) for r in rows]
