"""Queues, claims and workers of the SQL store.

A claim is one transaction: the first entry of the first non-empty queue is locked
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite write transactions hold the database
lock from ``BEGIN IMMEDIATE``), deleted, and its task moved to ``in_progress``.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import NotFound
from tunehouse.store import schema as t
from tunehouse.store.interfaces.queues import QueueStore
from tunehouse.store.records import (
    Queue,
    QueueEntry,
    Task,
    TaskStatus,
    Worker,
    WorkerHeartbeat,
)
from tunehouse.store.sql.database import DbRow, check_name, utcnow
from tunehouse.store.sql.status import StatusWriter

_CLAIM_ORDER = (t.queue_entries.c.priority.desc(), t.queue_entries.c.id.asc())


class SqlQueueStore(StatusWriter, QueueStore):
    """Queues, claims and workers on SQL (see :class:`~tunehouse.store.interfaces.QueueStore`)."""

    def get_or_create_queue(self, name: str) -> Queue:
        with self._write() as conn:
            row = self._ensure_queue(conn, name)
            return self._queue_record(conn, row)

    def _queue_record(self, conn: Connection, row: DbRow) -> Queue:
        length = conn.execute(sa.select(sa.func.count()).select_from(t.queue_entries)
                              .where(t.queue_entries.c.queue_id == row.id)).scalar_one()
        return Queue(id=row.id, name=row.name, created=row.created, length=length)

    def list_queues(self) -> list[Queue]:
        lengths = (sa.select(t.queue_entries.c.queue_id, sa.func.count().label("length"))
                   .group_by(t.queue_entries.c.queue_id).subquery())
        query = (sa.select(t.queues, sa.func.coalesce(lengths.c.length, 0).label("length"))
                 .outerjoin(lengths, lengths.c.queue_id == t.queues.c.id)
                 .order_by(t.queues.c.name))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [Queue(id=r.id, name=r.name, created=r.created, length=r.length) for r in rows]

    def enqueue(self, task_id: str, queue: str, priority: int = 0) -> Task:
        check_name("queue", queue, simple=True)
        with self._write() as conn:
            row = self._task_row(conn, task_id, lock=True)
            self._apply_status(conn, row, TaskStatus.queued, queue=queue, priority=priority,
                               reason="enqueued")
            return self._get_task(conn, task_id)

    def dequeue(self, task_id: str) -> Task:
        with self._write() as conn:
            row = self._task_row(conn, task_id, lock=True)
            self._apply_status(conn, row, TaskStatus.created, reason="dequeued")
            return self._get_task(conn, task_id)

    def list_queue_entries(self, queue: str) -> list[QueueEntry]:
        with self._read() as conn:
            queue_row = conn.execute(sa.select(t.queues).where(t.queues.c.name == queue)).first()
            if queue_row is None:
                raise NotFound(f"queue {queue!r} not found")
            rows = conn.execute(sa.select(t.queue_entries)
                                .where(t.queue_entries.c.queue_id == queue_row.id)
                                .order_by(*_CLAIM_ORDER)).all()
        return [QueueEntry(task_id=r.task_id, queue=queue, priority=r.priority,
                           enqueued=r.enqueued) for r in rows]

    def claim_task(self, queues: list[str], worker: str) -> Task | None:
        check_name("worker", worker)
        with self._write() as conn:
            found = dict(conn.execute(sa.select(t.queues.c.name, t.queues.c.id)
                                      .where(t.queues.c.name.in_(queues))).all())
            for name in queues:
                if name not in found:
                    continue
                query = (sa.select(t.queue_entries.c.task_id)
                         .where(t.queue_entries.c.queue_id == found[name])
                         .order_by(*_CLAIM_ORDER).limit(1))
                if self.is_postgres:
                    query = query.with_for_update(skip_locked=True)
                task_id = conn.execute(query).scalar_one_or_none()
                if task_id is None:
                    continue
                row = self._task_row(conn, task_id, lock=True)
                self._apply_status(conn, row, TaskStatus.in_progress, worker=worker,
                                   reason=f"claimed by {worker}")
                conn.execute(sa.update(t.workers).where(t.workers.c.name == worker)
                             .values(task_id=task_id))
                return self._get_task(conn, task_id)
        return None

    def heartbeat(self, beat: WorkerHeartbeat) -> Worker:
        now = utcnow()
        row = {"name": beat.name, "host": beat.host, "queues": beat.queues, "gpus": beat.gpus,
               "task_id": beat.task_id, "stats": beat.stats, "user": self.user,
               "registered": now, "last_heartbeat": now}
        with self._write() as conn:
            insert = self._insert(t.workers).values(**row)
            conn.execute(insert.on_conflict_do_update(
                index_elements=["name"],
                set_={name: insert.excluded[name] for name in row
                      if name not in ("name", "registered")}))
            stored = conn.execute(sa.select(t.workers).where(t.workers.c.name == beat.name)).one()
        return _worker(stored)

    def list_workers(self, max_age_s: float | None = None) -> list[Worker]:
        query = sa.select(t.workers).order_by(t.workers.c.name)
        if max_age_s is not None:
            query = query.where(
                t.workers.c.last_heartbeat >= utcnow() - timedelta(seconds=max_age_s))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_worker(row) for row in rows]


def _worker(row: DbRow) -> Worker:
    return Worker(name=row.name, host=row.host, queues=row.queues, gpus=row.gpus,
                  task_id=row.task_id, stats=row.stats, user=row.user,
                  registered=row.registered, last_heartbeat=row.last_heartbeat)
