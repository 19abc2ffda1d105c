"""Shared machinery of the SQL store's areas: the database, transactions, error mapping,
row conversion and the lookups several areas need.

Each area of :class:`~tunehouse.store.sql.SqlStore` is its own object (an
:class:`SqlArea`) holding the one :class:`Database` of the store and the acting user;
areas share no other state.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tunehouse.errors import Conflict, InvalidInput, NotFound, StaleAttempt
from tunehouse.store import schema as t
from tunehouse.store.blob_storage import BlobStorage
from tunehouse.store.clock import Clock, utc_now
from tunehouse.store.engine import single_use, write_options
from tunehouse.store.failures import storage_error
from tunehouse.store.records import (
    NAME_MAX,
    AuditEvent,
    Project,
    Task,
    TaskStatus,
    refuse_control_characters,
    validate_project_name,
)
from tunehouse.store.sql.notifications import (
    CHILDREN_CHANNEL,
    QUEUE_CHANNEL,
    SAFETY_POLL_S,
    Listener,
    announce,
)

_SIMPLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")

#: A result row; typed loosely because rows are read by column name.
DbRow = Any

TASK_COLUMNS = (*t.tasks.c, t.projects.c.name.label("project_name"))


#: The real current time (:func:`tunehouse.store.clock.utc_now`; areas given a clock read
#: ``self._clock`` instead).
utcnow = utc_now


def new_id() -> str:
    return uuid.uuid4().hex


def check_name(kind: str, name: str, max_length: int = NAME_MAX, simple: bool = False) -> str:
    """Validate a user-chosen name (no control characters); ``simple`` names are limited to
    ``[A-Za-z0-9_.@+-]``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{kind} name must not be empty")
    if len(name) > max_length:
        raise InvalidInput(f"{kind} name {name[:40]!r}... is longer than {max_length} characters")
    try:
        refuse_control_characters(name)
    except ValueError as exc:
        raise InvalidInput(f"invalid {kind} name {name!r}: {exc}") from None
    if simple and not _SIMPLE_NAME.match(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use letters, digits and _ . @ + - "
            "(starting with a letter or digit)"
        )
    return name


def project_name(name: str) -> str:
    """A normalised hierarchical project name, or InvalidInput."""
    check_name("project", name, max_length=1024)
    try:
        return validate_project_name(name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def task_from_row(row: DbRow) -> Task:
    m = row._mapping
    return Task(
        id=m["id"], project_id=m["project_id"], project=m["project_name"], name=m["name"],
        type=m["type"], status=m["status"], status_reason=m["status_reason"],
        status_message=m["status_message"], parent_id=m["parent_id"], tags=m["tags"],
        comment=m["comment"], user=m["user"], created=m["created"], started=m["started"],
        completed=m["completed"], updated=m["updated"], queue=m["queue"], worker=m["worker"],
        runner=m["runner"], attempt=m["attempt"], max_retries=m["max_retries"],
        last_iteration=m["last_iteration"], abort_requested=m["abort_requested"],
        last_seen=m["last_seen"], lease_expires=m["lease_expires"],
    )


def project_from_row(row: DbRow) -> Project:
    m = row._mapping
    return Project(id=m["id"], name=m["name"], description=m["description"], user=m["user"],
                   created=m["created"])


class ChangeSignal:
    """Wakes the calls of this process that wait for a change (a claim waiting for a task
    to enter a queue, a search controller waiting for its children) when this process's
    store makes one, or PostgreSQL announces one made elsewhere (:mod:`.notifications`);
    other changes are found by the waiters' polls."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    @property
    def generation(self) -> int:
        return self._generation

    def wait(self, seen: int, timeout: float) -> None:
        """Return when the generation moved past ``seen``, or after ``timeout`` seconds."""
        with self._condition:
            self._condition.wait_for(lambda: self._generation != seen, timeout=timeout)


#: Key of ``Connection.info`` set by a transaction that put a task in a queue: once it
#: commits, waiting claims are woken (in this process, and elsewhere on PostgreSQL).
QUEUE_CHANGED = "tunehouse_queue_changed"
#: Key of ``Connection.info``: the parents of the tasks a transaction changed (its
#: commit wakes the search controllers waiting for those children on PostgreSQL).
CHILDREN_CHANGED = "tunehouse_children_changed"


def note_child_change(conn: Connection, parent_id: str | None) -> None:
    """Record in ``conn`` that a child of ``parent_id`` changed (nothing without one)."""
    if parent_id:
        conn.info.setdefault(CHILDREN_CHANGED, set()).add(parent_id)

#: A store view's fence: (task id, attempt) it may write for (see ``Store.with_fence``).
Fence = tuple[str, int]

#: The longest client address an audit entry keeps (the column's length).
CLIENT_MAX = 255


@dataclass(frozen=True)
class AuditContext:
    """Who made the changes of a view, beyond its acting user, and from where: written on
    every audit entry the view writes (``SqlStore.with_context``,
    ``SqlAccountStore.with_context``).

    Attributes:
        actor: The authenticated user when it acted for the view's user (an admin or an
            agent account sending ``X-Tunehouse-User``); None when it is the acting user.
        client: The address of the client whose request made the change (None: not made
            over HTTP, e.g. the CLI on the database or the server's own watchdog).
    """

    actor: str | None = None
    client: str | None = None


#: No actor beyond the acting user, no client address.
NO_CONTEXT = AuditContext()


@dataclass(frozen=True)
class Database:
    """The engine and the blob storage one :class:`~tunehouse.store.sql.SqlStore` (and
    all its views) work on."""

    engine: Engine
    blobs: BlobStorage
    #: A task entered a queue (through this process's store).
    queue_signal: ChangeSignal = field(default_factory=ChangeSignal)
    #: A write transaction committed (through this process's store), or PostgreSQL
    #: announced a change of some task's children.
    write_signal: ChangeSignal = field(default_factory=ChangeSignal)
    #: PostgreSQL's notifications (None on SQLite), started by the first wait that needs
    #: them.
    listener: Listener | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.is_postgres:
            object.__setattr__(self, "listener", Listener(self.engine, {
                QUEUE_CHANNEL: self.queue_signal.notify,
                CHILDREN_CHANNEL: self.write_signal.notify}))

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def poll_interval(self, without_notifications: float) -> float:
        """How often a waiter reads the database: rarely on PostgreSQL while its
        notifications arrive (started here on first use), else ``without_notifications``."""
        if self.listener is None:
            return without_notifications
        return SAFETY_POLL_S if self.listener.start() else without_notifications

    def close(self) -> None:
        """Stop listening to PostgreSQL's notifications (when started)."""
        if self.listener is not None:
            self.listener.close()


class SqlArea:
    """Base of each area's SQL implementation: transactions and shared lookups.

    Args:
        db: The store's database.
        user: The acting user, recorded on every record this area creates.
        fence: The (task, attempt) this view writes for: writes to that task once the
            attempt is over raise :class:`~tunehouse.errors.StaleAttempt`.
        context: Who acted for ``user`` and from where, written on its audit entries.
        clock: The time of audit entries (the account areas use it for all their times).
    """

    def __init__(self, db: Database, user: str, fence: Fence | None = None,
                 context: AuditContext = NO_CONTEXT, clock: Clock = utc_now) -> None:
        self._db = db
        self._engine = db.engine
        self.user = user
        self.fence = fence
        self.context = context
        self._clock = clock

    @property
    def is_postgres(self) -> bool:
        return self._db.is_postgres

    # ------------------------------------------------------------ transactions
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.OperationalError as exc:
            raise storage_error(exc) or exc from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); database clashes become
        Conflict, out-of-range values InvalidInput, a full or read-only database
        StorageFull or StorageUnavailable (:mod:`tunehouse.store.failures`)."""
        try:
            with self._engine.connect() as conn:
                try:
                    conn.execution_options(**write_options())
                    with conn.begin():
                        yield conn
                        if self._db.is_postgres:
                            announce(conn, conn.info.get(QUEUE_CHANGED, False),
                                     conn.info.get(CHILDREN_CHANGED, ()))
                    if conn.info.get(QUEUE_CHANGED, False):
                        self._db.queue_signal.notify()
                    self._db.write_signal.notify()
                finally:
                    conn.info.pop(QUEUE_CHANGED, None)
                    conn.info.pop(CHILDREN_CHANGED, None)
                    if single_use():  # a large write: keep nothing of it in the pool
                        conn.invalidate()
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"the change clashes with existing records: {_reason(exc)}") from exc
        except sa.exc.DataError as exc:
            raise InvalidInput(f"a value is out of range or malformed: {_reason(exc)}") from exc
        except sa.exc.DBAPIError as exc:
            raise storage_error(exc) or exc from exc

    # ------------------------------------------------------------ lookups
    def _task_row(self, conn: Connection, task_id: str, lock: bool = False) -> DbRow:
        """The task with its project name; ``lock`` holds its row until commit (PostgreSQL;
        SQLite write transactions hold the database lock already)."""
        query = (sa.select(*TASK_COLUMNS).join(t.projects, t.projects.c.id == t.tasks.c.project_id)
                 .where(t.tasks.c.id == task_id))
        if lock and self.is_postgres:
            query = query.with_for_update(of=t.tasks, key_share=True)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"task {task_id!r} not found")
        if lock:
            self._check_fence(row)
        return row

    def _check_fence(self, row: DbRow) -> None:
        """Refuse a write to the fenced task unless its fenced attempt is still running."""
        if self.fence is None or self.fence[0] != row.id:
            return
        attempt = self.fence[1]
        if row.attempt != attempt or row.status != TaskStatus.in_progress.value:
            raise StaleAttempt(
                f"attempt {attempt} of task {row.id} is over (the task is {row.status}, "
                f"attempt {row.attempt}): this process must stop writing",
                detail={"task_id": row.id, "attempt": attempt, "current_attempt": row.attempt,
                        "status": row.status})

    def _lock_task_for_events(self, conn: Connection, task_id: str) -> DbRow:
        """The task row, locked ``FOR NO KEY UPDATE`` on PostgreSQL: writers of one task's
        events queue here, while rows referencing the task can still be inserted."""
        query = sa.select(t.tasks.c.id, t.tasks.c.last_iteration, t.tasks.c.attempt,
                          t.tasks.c.status, t.tasks.c.parent_id).where(t.tasks.c.id == task_id)
        if self.is_postgres:
            query = query.with_for_update(key_share=True)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"task {task_id!r} not found")
        self._check_fence(row)
        return row

    def _get_task(self, conn: Connection, task_id: str) -> Task:
        return task_from_row(self._task_row(conn, task_id))

    def _require_task(self, conn: Connection, task_id: str, write: bool = False) -> None:
        """Raise NotFound unless the task exists; ``write``: check this view's fence too."""
        row = conn.execute(sa.select(t.tasks.c.id, t.tasks.c.attempt, t.tasks.c.status)
                           .where(t.tasks.c.id == task_id)).first()
        if row is None:
            raise NotFound(f"task {task_id!r} not found")
        if write:
            self._check_fence(row)

    def _project(self, conn: Connection, name_or_id: str) -> DbRow | None:
        return conn.execute(
            sa.select(t.projects).where(
                sa.or_(t.projects.c.name == name_or_id, t.projects.c.id == name_or_id))
        ).first()

    def _ensure_project(self, conn: Connection, name: str, description: str = "") -> DbRow:
        """The project called ``name``, created (race-free) when missing."""
        name = project_name(name)
        row = conn.execute(sa.select(t.projects).where(t.projects.c.name == name)).first()
        if row is not None:
            return row
        insert = self._insert(t.projects).values(
            id=new_id(), name=name, description=description, user=self.user, created=utcnow()
        ).on_conflict_do_nothing(index_elements=["name"])
        conn.execute(insert)
        row = conn.execute(sa.select(t.projects).where(t.projects.c.name == name)).first()
        assert row is not None
        return row

    def _insert(self, table: sa.Table) -> Any:
        """A dialect-specific INSERT that supports ``on_conflict_do_nothing/update``."""
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def _raw_rows(self, conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of a hot-path query run on the DBAPI cursor (``?`` placeholders)."""
        if self.is_postgres:
            sql = sql.replace("?", "%s")
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _audit(self, conn: Connection, action: str, target_type: str, target_id: str,
               details: dict[str, Any] | None, user: str | None = None,
               client: str | None = None) -> AuditEvent:
        """Append one audit entry in the transaction of ``conn`` (so it is written exactly
        when the change it records is): by ``user`` (default: the acting user), with this
        view's actor and client address (:class:`AuditContext`; ``client`` overrides the
        address)."""
        now = self._clock()
        details = details or {}
        user = (user or self.user)[: t.NAME_LENGTH]
        actor, client = self.context.actor, client or self.context.client
        client = client[:CLIENT_MAX] if client else None
        event_id = conn.execute(sa.insert(t.audit_events).values(
            user=user, actor=actor, client=client, action=action, target_type=target_type,
            target_id=target_id[: t.NAME_LENGTH], details=details, created=now,
        ).returning(t.audit_events.c.id)).scalar_one()
        return AuditEvent(id=event_id, user=user, actor=actor, client=client, action=action,
                          target_type=target_type, target_id=target_id[: t.NAME_LENGTH],
                          details=details, created=now)

    def _check_status_value(self, value: str) -> TaskStatus:
        try:
            return TaskStatus(value)
        except ValueError:
            raise InvalidInput(f"unknown task status {value!r}") from None


def _reason(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
