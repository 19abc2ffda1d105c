"""The append-only audit log: who changed what, as whom, from where.

Entries are written by the store in the transaction of the change they record (every
area's SQL implementation does), so a change that fails leaves no entry and an entry
never exists without its change. :class:`AuditLog` is what admins read (over HTTP:
``GET /audit``); :class:`AuditStore` adds :meth:`AuditStore.record`, which the server
uses for what is not a change of a record (sign-ins): no route writes, edits or deletes
an entry.
"""

from __future__ import annotations

import abc
from datetime import datetime
from typing import Any

from tunehouse.store.records import AuditEvent


class AuditLog(abc.ABC):
    """Reading the audit log (admins)."""

    @abc.abstractmethod
    def list_audit_events(self, target_type: str | None = None, target_id: str | None = None,
                          limit: int = 100, *, user: str | None = None,
                          actor: str | None = None, action: str | None = None,
                          since: datetime | None = None, until: datetime | None = None,
                          after_id: int | None = None,
                          oldest_first: bool = False) -> list[AuditEvent]:
        """Audit entries, newest first (``oldest_first``: oldest first), at most ``limit``
        (1 to 10,000; InvalidInput else).

        Filters (all optional, combined): ``user`` (made as), ``actor`` (made by, acting
        for another user), ``action`` (exact, or a prefix ending in ``*``: ``task.*``),
        ``target_type``/``target_id``, ``since`` (inclusive) and ``until`` (exclusive)
        times (naive times are UTC). ``after_id``: the next page, after the entry of that
        id (the last one of the previous page) in the listing's order.
        """


class AuditStore(AuditLog):
    """:class:`AuditLog` plus writing an entry (store-only: never over HTTP)."""

    @abc.abstractmethod
    def record(self, action: str, target_type: str, target_id: str,
               details: dict[str, Any] | None = None, user: str | None = None) -> AuditEvent:
        """Store-only. Write one entry made as ``user`` (default: the acting user), with
        this view's actor and client address."""
