"""Task status changes of the SQL store: the one place that writes ``tasks.status``.

:class:`StatusWriter` is the base of the two areas that move tasks (tasks and queues).
Every status change is audited here (``task.status``, in the transaction of the change)
unless the caller records it as its own action (``task.enqueue``, ``task.abort``): each
action leaves exactly one audit entry. Claims are status changes too (``queued ->
in_progress``, with the worker and the attempt); a task has few of them, so this does not
flood the log, whereas heartbeats, lease renewals and signs of life are never audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import InvalidInput
from tunehouse.store import schema as t
from tunehouse.store.records import TaskStatus, TaskType
from tunehouse.store.sql.database import (
    QUEUE_CHANGED,
    DbRow,
    SqlArea,
    check_name,
    new_id,
    note_child_change,
    utcnow,
)
from tunehouse.store.status import TERMINAL, check_transition

#: The longest reason an audit entry of a status change keeps.
REASON_MAX = 500
#: Actions on an optimizer task (a search) recorded under the search's own name.
SEARCH_ACTIONS = {"task.create": "search.start", "task.abort": "search.stop"}


def task_action(action: str, task_type: str) -> str:
    """``action`` on a task of ``task_type``: for an optimizer task (a search),
    ``task.create`` is ``search.start`` and ``task.abort`` is ``search.stop``."""
    if task_type == TaskType.optimizer.value:
        return SEARCH_ACTIONS.get(action, action)
    return action


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

    def _audit_task(self, conn: Connection, action: str, task: DbRow,
                    details: dict[str, Any]) -> None:
        """One audit entry of ``action`` on ``task`` (a search's name for an optimizer)."""
        self._audit(conn, task_action(action, task.type), "task", task.id, details)

    def _apply_status(self, conn: Connection, task: DbRow, new: TaskStatus, *,
                      reason: str = "", message: str = "", worker: str | None = None,
                      runner: str | None = None,
                      force: bool = False, queue: str | None = None,
                      priority: int | None = None, lease_s: float | None = None,
                      audit: bool = True) -> None:
        """Check ``task.status -> new`` and write it with everything that goes with it.

        ``queue``/``priority`` are used when moving to ``queued`` (default: the queue and
        priority the task was last queued with); ``lease_s`` gives a task moving to
        ``in_progress`` on a worker its lease, ``runner`` the user that claimed it. Any other change ends the lease.
        ``audit``: record a ``task.status`` entry (before, after, reason); False when the
        caller records the change as its own action.
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
                          runner=runner, abort_requested=False, last_seen=now,
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
        note_child_change(conn, task.parent_id)
        if audit:
            self._audit_task(conn, "task.status", task, status_details(task, values, force))


def status_details(task: DbRow, values: dict[str, Any], force: bool = False) -> dict[str, Any]:
    """What the audit entry of a status change of ``task`` to ``values`` says."""
    details: dict[str, Any] = {"before": task.status, "after": values["status"],
                               "reason": values["status_reason"][:REASON_MAX]}
    if values["status"] == TaskStatus.in_progress.value:
        details.update(attempt=values["attempt"], worker=values["worker"])
    elif values["status"] == TaskStatus.queued.value:
        details.update(queue=values["queue"])
    if force:
        details["force"] = True
    return details


def delete_outputs(conn: Connection, task_id: str) -> None:
    """Remove what a run of the task recorded: scalars, summaries, console, artifacts."""
    metric_ids = sa.select(t.metrics.c.id).where(t.metrics.c.task_id == task_id)
    conn.execute(sa.delete(t.scalars).where(t.scalars.c.metric_id.in_(metric_ids)))
    conn.execute(sa.delete(t.metrics).where(t.metrics.c.task_id == task_id))
    conn.execute(sa.delete(t.log_lines).where(t.log_lines.c.task_id == task_id))
    conn.execute(sa.delete(t.artifacts).where(t.artifacts.c.task_id == task_id))
