"""Queues, claims, leases and workers of the SQL store.

A claim is one transaction: the first entry of the first non-empty queue is locked
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite write transactions hold the database
lock from ``BEGIN IMMEDIATE``), deleted, and its task moved to ``in_progress`` with a new
attempt and a lease. A claim that waits (long poll) is woken at once by a task queued
through this process's store or, on PostgreSQL, by any process (:mod:`.notifications`);
on SQLite it polls every :data:`CLAIM_POLL_S` for tasks queued elsewhere. It takes the
write lock only when a read saw an entry.

Audited: ``task.enqueue`` (queue, priority, the status before); a dequeue, a claim and a
task a lost worker's lease gives back are ``task.status`` changes (:mod:`.status`).
Heartbeats, lease renewals and reordering a queue are not audited.
"""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import Conflict, InvalidInput, NotFound
from tunehouse.store import schema as t
from tunehouse.store.interfaces.queues import DEFAULT_QUEUE, QueueStore
from tunehouse.store.records import (
    CLAIM_WAIT_MAX_S,
    LEASE_S,
    HeartbeatReply,
    Queue,
    QueueEntry,
    QueuePosition,
    Task,
    TaskStatus,
    Worker,
    WorkerHeartbeat,
)
from tunehouse.store.sql.database import DbRow, check_name, utcnow
from tunehouse.store.sql.status import StatusWriter

_CLAIM_ORDER = (t.queue_entries.c.priority.desc(), t.queue_entries.c.id.asc())
#: How often a waiting claim looks for tasks queued by another process.
CLAIM_POLL_S = 0.2


class SqlQueueStore(StatusWriter, QueueStore):
    """Queues, claims and workers on SQL (see :class:`~tunehouse.store.interfaces.QueueStore`)."""

    # ------------------------------------------------------------ queues
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

    def delete_queue(self, name: str) -> None:
        if name == DEFAULT_QUEUE:
            raise Conflict(f"the {DEFAULT_QUEUE!r} queue always exists and cannot be deleted")
        with self._write() as conn:
            row = self._queue_row(conn, name)
            length = self._queue_record(conn, row).length
            if length:
                raise Conflict(f"queue {name!r} holds {length} task(s): dequeue them before "
                               "deleting it", detail={"length": length})
            conn.execute(sa.delete(t.queues).where(t.queues.c.id == row.id))

    def _queue_row(self, conn: Connection, name: str) -> DbRow:
        row = conn.execute(sa.select(t.queues).where(t.queues.c.name == name)).first()
        if row is None:
            raise NotFound(f"queue {name!r} not found")
        return row

    # ------------------------------------------------------------ entries
    def enqueue(self, task_id: str, queue: str, priority: int = 0) -> Task:
        check_name("queue", queue, simple=True)
        with self._write() as conn:
            row = self._task_row(conn, task_id, lock=True)
            self._apply_status(conn, row, TaskStatus.queued, queue=queue, priority=priority,
                               reason="enqueued", audit=False)
            self._audit_task(conn, "task.enqueue", row, {
                "queue": queue, "priority": priority, "before": row.status})
            return self._get_task(conn, task_id)

    def dequeue(self, task_id: str) -> Task:
        with self._write() as conn:
            row = self._task_row(conn, task_id, lock=True)
            self._apply_status(conn, row, TaskStatus.created, reason="dequeued")
            return self._get_task(conn, task_id)

    def move_queued_task(self, task_id: str, position: QueuePosition) -> QueueEntry:
        position = QueuePosition(position)
        entries = t.queue_entries.c
        with self._write() as conn:
            self._task_row(conn, task_id, lock=True)
            entry = conn.execute(sa.select(t.queue_entries, t.queues.c.name.label("queue"))
                                 .join(t.queues, t.queues.c.id == entries.queue_id)
                                 .where(entries.task_id == task_id)).first()
            if entry is None:
                raise Conflict(f"task {task_id} is not queued")
            bound = sa.func.max if position is QueuePosition.front else sa.func.min
            other = conn.execute(sa.select(bound(entries.priority)).where(
                entries.queue_id == entry.queue_id, entries.task_id != task_id)).scalar()
            priority = entry.priority
            if other is not None:
                priority = other + 1 if position is QueuePosition.front else other - 1
            conn.execute(sa.update(t.queue_entries).where(entries.task_id == task_id)
                         .values(priority=priority))
            conn.execute(sa.update(t.tasks).where(t.tasks.c.id == task_id)
                         .values(queue_priority=priority, updated=utcnow()))
        return QueueEntry(task_id=task_id, queue=entry.queue, priority=priority,
                          enqueued=entry.enqueued)

    def list_queue_entries(self, queue: str) -> list[QueueEntry]:
        with self._read() as conn:
            queue_row = self._queue_row(conn, queue)
            rows = conn.execute(sa.select(t.queue_entries)
                                .where(t.queue_entries.c.queue_id == queue_row.id)
                                .order_by(*_CLAIM_ORDER)).all()
        return [QueueEntry(task_id=r.task_id, queue=queue, priority=r.priority,
                           enqueued=r.enqueued) for r in rows]

    # ------------------------------------------------------------ claims
    def claim_task(self, queues: list[str], worker: str, wait_s: float = 0.0,
                   lease_s: float = LEASE_S) -> Task | None:
        check_name("worker", worker)
        if not queues:
            raise InvalidInput("claim_task needs at least one queue")
        if not 0 < lease_s <= 86_400:
            raise InvalidInput(f"lease_s must be in (0, 86400], got {lease_s}")
        signal = self._db.queue_signal
        deadline = time.monotonic() + min(max(wait_s, 0.0), CLAIM_WAIT_MAX_S)
        while True:
            seen = signal.generation
            if self._any_entry(queues):
                claimed = self._claim_once(queues, worker, lease_s)
                if claimed is not None:
                    return claimed
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            signal.wait(seen, min(self._db.poll_interval(CLAIM_POLL_S), left))

    def _any_entry(self, queues: list[str]) -> bool:
        query = (sa.select(t.queue_entries.c.id)
                 .join(t.queues, t.queues.c.id == t.queue_entries.c.queue_id)
                 .where(t.queues.c.name.in_(queues)).limit(1))
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def _claim_once(self, queues: list[str], worker: str, lease_s: float) -> Task | None:
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
                                   runner=self.user, reason=f"claimed by {worker}", lease_s=lease_s)
                return self._get_task(conn, task_id)
        return None

    # ------------------------------------------------------------ workers and leases
    def heartbeat(self, beat: WorkerHeartbeat) -> HeartbeatReply:
        now = utcnow()
        row = {"name": beat.name, "host": beat.host, "queues": beat.queues, "gpus": beat.gpus,
               "tasks": sorted(beat.tasks), "slots": beat.slots, "free_slots": beat.free_slots,
               "stats": beat.stats, "lease_s": beat.lease_s, "user": self.user,
               "registered": now, "last_heartbeat": now}
        tasks = t.tasks.c
        with self._write() as conn:
            insert = self._insert(t.workers).values(**row)
            conn.execute(insert.on_conflict_do_update(
                index_elements=["name"],
                set_={name: insert.excluded[name] for name in row
                      if name not in ("name", "registered")}))
            held: list[DbRow] = []
            if beat.tasks:
                rows = conn.execute(sa.select(tasks.id, tasks.status, tasks.worker,
                                              tasks.attempt, tasks.abort_requested)
                                    .where(tasks.id.in_(list(beat.tasks)))).all()
                held = [r for r in rows if r.status == TaskStatus.in_progress.value
                        and r.worker == beat.name and r.attempt == beat.tasks[r.id]]
            if held:
                conn.execute(sa.update(t.tasks).where(tasks.id.in_([r.id for r in held]))
                             .values(lease_expires=now + timedelta(seconds=beat.lease_s),
                                     last_seen=now))
            stored = conn.execute(sa.select(t.workers).where(t.workers.c.name == beat.name)).one()
        held_ids = {r.id for r in held}
        return HeartbeatReply(worker=_worker(stored),
                              abort=sorted(r.id for r in held if r.abort_requested),
                              revoked=sorted(set(beat.tasks) - held_ids))

    def list_workers(self, max_age_s: float | None = None) -> list[Worker]:
        query = sa.select(t.workers).order_by(t.workers.c.name)
        if max_age_s is not None:
            query = query.where(
                t.workers.c.last_heartbeat >= utcnow() - timedelta(seconds=max_age_s))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_worker(row) for row in rows]

    def reap_expired_leases(self, lost_worker_retries: int = 2) -> list[Task]:
        if lost_worker_retries < 0:
            raise InvalidInput("lost_worker_retries must be >= 0")
        tasks = t.tasks.c
        now = utcnow()
        candidates = sa.select(tasks.id).where(tasks.status == TaskStatus.in_progress.value,
                                               tasks.lease_expires < now)
        reaped: list[Task] = []
        with self._write() as conn:
            for (task_id,) in conn.execute(candidates).all():
                row = self._task_row(conn, task_id, lock=True)  # may have changed since
                if (row.status != TaskStatus.in_progress.value or row.lease_expires is None
                        or row.lease_expires >= now):
                    continue
                lost = (f"worker {row.worker} lost: its lease on attempt {row.attempt} ran "
                        f"out at {row.lease_expires.isoformat(timespec='seconds')}")
                retries = max(row.max_retries, lost_worker_retries)
                if row.abort_requested:
                    self._apply_status(conn, row, TaskStatus.aborted,
                                       reason=f"aborted: abort requested and {lost}")
                elif row.queue and row.attempt <= retries:
                    self._apply_status(conn, row, TaskStatus.queued,
                                       reason=f"{lost}; back in queue {row.queue!r}")
                else:
                    self._apply_status(conn, row, TaskStatus.failed, reason=lost)
                reaped.append(self._get_task(conn, task_id))
            workers = t.workers.c
            gone = [r.name for r in conn.execute(
                sa.select(workers.name, workers.last_heartbeat, workers.lease_s)).all()
                if r.last_heartbeat + timedelta(seconds=r.lease_s) < now]
            if gone:
                conn.execute(sa.delete(t.workers).where(workers.name.in_(gone)))
        return reaped


def _worker(row: DbRow) -> Worker:
    return Worker(name=row.name, host=row.host, queues=row.queues, gpus=row.gpus,
                  tasks=row.tasks, slots=row.slots, free_slots=row.free_slots,
                  stats=row.stats, user=row.user, registered=row.registered,
                  last_heartbeat=row.last_heartbeat)
