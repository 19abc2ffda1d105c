"""Task status changes of the SQL store: the one place that writes ``tasks.status``.

:class:`StatusWriter` is the base of the two areas that move tasks (tasks and queues).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import InvalidInput
from tunehouse.store import schema as t
from tunehouse.store.records import TaskStatus
from tunehouse.store.sql.database import (
    QUEUE_CHANGED,
    DbRow,
    SqlArea,
    check_name,
    new_id,
    utcnow,
)
from tunehouse.store.status import TERMINAL, check_transition


class StatusWriter(SqlArea):
    """An area that changes task status (through :meth:`_apply_status` only)."""

    def _ensure_queue(self, conn: Connection, name: str) -> DbRow:
        check_name("queue", name, simple=True)
        query = sa.select(t.queues).where(t.queues.c.name == name)
        row = conn.execute(query).first()
        if row is None:
            conn.execute(self._insert(t.queues).values(
                id=new_id(), name=name, user=self.user, created=utcnow()
            ).on_conflict_do_nothing(index_elements=["name"]))
            row = conn.execute(query).first()
            assert row is not None
        return row

    def _apply_status(self, conn: Connection, task: DbRow, new: TaskStatus, *,
                      reason: str = "", message: str = "", worker: str | None = None,
                      force: bool = False, queue: str | None = None,
                      priority: int | None = None, lease_s: float | None = None) -> None:
        """Check ``task.status -> new`` and write it with everything that goes with it.

        ``queue``/``priority`` are used when moving to ``queued`` (default: the queue and
        priority the task was last queued with); ``lease_s`` gives a task moving to
        ``in_progress`` on a worker its lease. Any other change ends the lease.
        """
        old = TaskStatus(task.status)
        check_transition(old, new, force=force)
        now = utcnow()
        values: dict[str, Any] = {"status": new.value, "status_reason": reason,
                                  "status_message": message, "updated": now,
                                  "lease_expires": None}
        conn.execute(sa.delete(t.queue_entries).where(t.queue_entries.c.task_id == task.id))
        if new is TaskStatus.in_progress:
            values.update(started=now, completed=None, attempt=task.attempt + 1, worker=worker,
                          abort_requested=False, last_seen=now,
                          lease_expires=None if lease_s is None else now + timedelta(seconds=lease_s))
        elif new in TERMINAL:
            # a terminal status rewritten (force) keeps the moment the task ended
            values.update(completed=task.completed if old in TERMINAL and task.completed
                          else now)
        elif new is TaskStatus.created:
            values.update(queue=None, queue_priority=0, worker=None, abort_requested=False,
                          started=None, completed=None, attempt=0, last_iteration=None)
            delete_outputs(conn, task.id)
        elif new is TaskStatus.queued:
            queue = queue or task.queue
            if not queue:
                raise InvalidInput(f"task {task.id} has no queue to return to; use enqueue")
            priority = task.queue_priority if priority is None else priority
            queue_row = self._ensure_queue(conn, queue)
            conn.execute(sa.insert(t.queue_entries).values(
                queue_id=queue_row.id, task_id=task.id, priority=priority, enqueued=now,
                user=self.user))
            values.update(queue=queue, queue_priority=priority, worker=None,
                          abort_requested=False, completed=None)
            conn.info[QUEUE_CHANGED] = True
        conn.execute(sa.update(t.tasks).where(t.tasks.c.id == task.id).values(**values))


def delete_outputs(conn: Connection, task_id: str) -> None:
    """Remove what a run of the task recorded: scalars, summaries, console, artifacts."""
    metric_ids = sa.select(t.metrics.c.id).where(t.metrics.c.task_id == task_id)
    conn.execute(sa.delete(t.scalars).where(t.scalars.c.metric_id.in_(metric_ids)))
    conn.execute(sa.delete(t.metrics).where(t.metrics.c.task_id == task_id))
    conn.execute(sa.delete(t.log_lines).where(t.log_lines.c.task_id == task_id))
    conn.execute(sa.delete(t.artifacts).where(t.artifacts.c.task_id == task_id))
