"""Projects, tasks and what a task is configured with, in the SQL store.

Audited, each in the transaction of its change: ``task.create`` (``search.start`` for an
optimizer task), ``task.delete``, ``task.parameters`` (when a value changed) and
``task.abort`` (``search.stop``); status changes in :mod:`.status`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import Conflict, InvalidInput, NotFound
from tunehouse.store import schema as t
from tunehouse.store.blob_maintenance import remove_if_unreferenced
from tunehouse.store.interfaces.tasks import TaskStore
from tunehouse.store.records import (
    CHILDREN_WAIT_MAX_S,
    LOST_AFTER_S,
    QUIET_AFTER_S,
    Configuration,
    Environment,
    Parameter,
    Project,
    Script,
    StatusChange,
    Task,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskStatus,
    TaskUpdate,
)
from tunehouse.store.sql import task_query
from tunehouse.store.sql.database import (
    TASK_COLUMNS,
    DbRow,
    check_name,
    new_id,
    note_child_change,
    project_from_row,
    project_name,
    task_from_row,
    utcnow,
)
from tunehouse.store.sql.status import REASON_MAX, StatusWriter, delete_outputs
from tunehouse.store.sql.task_columns import numeric_value
from tunehouse.store.status import ACTIVE, check_transition

#: How often a wait for a change of a task's children looks for changes made by other
#: processes (those made through this process's store wake it at once).
CHILDREN_CHANGE_POLL_S = 0.05


def _last_sign(row: DbRow) -> datetime | None:
    return row.last_seen or row.started or row.updated  # type: ignore[no-any-return]


def _quiet(row: DbRow, seconds: float) -> bool:
    """Whether a running task without an agent showed no life for ``seconds``."""
    seen = _last_sign(row)
    return row.worker is None and (seen is None
                                   or (utcnow() - seen).total_seconds() >= seconds)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "its start"


def _same_create(existing: DbRow, spec: TaskCreate, user: str) -> Task:
    """The task a create with a client-chosen id made before (a resend), or Conflict."""
    task = task_from_row(existing)
    if (task.project, task.name, task.user) != (project_name(spec.project), spec.name, user):
        raise Conflict(f"task id {spec.id} is taken by another task")
    return task


#: At most this many changed parameters are listed in a ``task.parameters`` audit entry,
#: each value cut to :data:`AUDIT_VALUE_MAX` characters (``count`` says how many changed).
AUDIT_PARAMETERS_MAX = 50
AUDIT_VALUE_MAX = 200


class _ParameterChanges:
    """The details of a ``task.parameters`` audit entry, gathered while the parameters are
    written: the first :data:`AUDIT_PARAMETERS_MAX` changes listed (``section/name``:
    before and after, None when absent), every change counted."""

    def __init__(self) -> None:
        self.listed: dict[str, dict[str, str | None]] = {}
        self.count = 0

    def add(self, key: tuple[str, str], before: str | None, after: str | None) -> None:
        if before == after:
            return
        self.count += 1
        name = f"{key[0]}/{key[1]}"
        if name in self.listed or len(self.listed) < AUDIT_PARAMETERS_MAX:
            self.listed[name] = {"before": _cut(before), "after": _cut(after)}

    def details(self) -> dict[str, Any] | None:
        """The entry's details, or None when no value changed."""
        if not self.count:
            return None
        return {"changed": self.listed, "count": self.count,
                "truncated": self.count > AUDIT_PARAMETERS_MAX}


def _cut(value: str | None) -> str | None:
    return value if value is None else value[:AUDIT_VALUE_MAX]


def _check_tags(tags: list[str]) -> list[str]:
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 255:
            raise InvalidInput(f"invalid tag {tag!r}: tags are non-empty strings of at most 255 characters")
    return list(dict.fromkeys(tags))


class SqlTaskStore(StatusWriter, TaskStore):
    """Projects and tasks on SQL (see :class:`~tunehouse.store.interfaces.TaskStore`)."""

    # ------------------------------------------------------------ projects
    def get_or_create_project(self, name: str, description: str = "") -> Project:
        with self._write() as conn:
            return project_from_row(self._ensure_project(conn, name, description))

    def get_project(self, name_or_id: str) -> Project:
        with self._read() as conn:
            row = self._project(conn, name_or_id)
        if row is None:
            raise NotFound(f"project {name_or_id!r} not found")
        return project_from_row(row)

    def list_projects(self) -> list[Project]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.projects).order_by(t.projects.c.name)).all()
        return [project_from_row(row) for row in rows]

    # ------------------------------------------------------------ tasks
    def create_task(self, spec: TaskCreate) -> Task:
        task_id = spec.id or new_id()
        with self._write() as conn:
            if spec.id is not None:
                existing = conn.execute(sa.select(*TASK_COLUMNS).join(
                    t.projects, t.projects.c.id == t.tasks.c.project_id)
                    .where(t.tasks.c.id == spec.id)).first()
                if existing is not None:
                    return _same_create(existing, spec, self.user)
            project = self._ensure_project(conn, spec.project)
            if spec.parent_id is not None:
                self._require_task(conn, spec.parent_id)
            now = utcnow()
            conn.execute(sa.insert(t.tasks).values(
                id=task_id, project_id=project.id, name=spec.name, type=spec.type.value,
                status=TaskStatus.created.value, status_reason="", status_message="",
                parent_id=spec.parent_id, tags=_check_tags(spec.tags), comment=spec.comment,
                user=self.user, created=now, updated=now, queue=None, queue_priority=0,
                worker=None, attempt=0, max_retries=spec.max_retries, last_iteration=None,
                abort_requested=False,
            ))
            note_child_change(conn, spec.parent_id)
            task = self._task_row(conn, task_id)
            self._audit_task(conn, "task.create", task, {
                "project": task.project_name, "name": task.name, "type": task.type,
                "parent_id": task.parent_id})
            return task_from_row(task)

    def get_task(self, task_id: str) -> Task:
        with self._read() as conn:
            return self._get_task(conn, task_id)

    def list_tasks(self, query: TaskQuery) -> TaskPage:
        """One page of matching tasks and their total count (see
        :func:`tunehouse.store.sql.task_query.list_tasks` for the filters and orders)."""
        with self._read() as conn:
            return task_query.list_tasks(conn, query, self.is_postgres)

    def list_tasks_within(self, query: TaskQuery, project_ids: list[str]) -> TaskPage:
        """:meth:`list_tasks` restricted to the tasks of ``project_ids`` (SQL only: the
        server's listing for a user who may not read every project)."""
        with self._read() as conn:
            return task_query.list_tasks(conn, query, self.is_postgres, project_ids=project_ids)

    def update_task(self, task_id: str, update: TaskUpdate) -> Task:
        values: dict[str, Any] = update.model_dump(exclude_none=True)
        if "tags" in values:
            values["tags"] = _check_tags(values["tags"])
        with self._write() as conn:
            row = self._task_row(conn, task_id, lock=True)
            if values:
                values["updated"] = utcnow()
                conn.execute(sa.update(t.tasks).where(t.tasks.c.id == task_id).values(**values))
                note_child_change(conn, row.parent_id)
            return self._get_task(conn, task_id)

    def change_status(self, task_id: str, change: StatusChange) -> Task:
        with self._write() as conn:
            row = self._task_row(conn, task_id, lock=True)
            if change.keep_if_same and row.status == change.status.value:
                return self._get_task(conn, task_id)
            self._apply_status(conn, row, change.status, reason=change.reason,
                               message=change.message, worker=change.worker, force=change.force)
            return self._get_task(conn, task_id)

    def request_abort(self, task_id: str, reason: str = "") -> Task:
        with self._write() as conn:
            row = self._task_row(conn, task_id, lock=True)
            status = TaskStatus(row.status)
            if status in (TaskStatus.created, TaskStatus.queued):
                reason = reason or "aborted"
                self._apply_status(conn, row, TaskStatus.aborted, reason=reason, audit=False)
            elif status is TaskStatus.in_progress and _quiet(row, QUIET_AFTER_S):
                # no agent and no sign of life: nobody would act on a flag, end it now
                reason = reason or "aborted (the process showed no life)"
                self._apply_status(conn, row, TaskStatus.aborted, reason=reason, audit=False)
            elif status is TaskStatus.in_progress:
                reason = reason or "abort requested"
                conn.execute(sa.update(t.tasks).where(t.tasks.c.id == task_id).values(
                    abort_requested=True, status_reason=reason, updated=utcnow()))
                note_child_change(conn, row.parent_id)
            else:
                check_transition(status, TaskStatus.aborted)
            task = self._get_task(conn, task_id)
            # one entry for the request, whether it ended the task or (``requested``) only
            # asked its process to stop
            self._audit_task(conn, "task.abort", row, {
                "before": row.status, "after": task.status.value,
                "requested": task.status is TaskStatus.in_progress,
                "reason": reason[:REASON_MAX]})
            return task

    def mark_alive(self, task_id: str) -> Task:
        with self._write() as conn:
            self._task_row(conn, task_id, lock=True)
            conn.execute(sa.update(t.tasks).where(t.tasks.c.id == task_id)
                         .values(last_seen=utcnow()))
            return self._get_task(conn, task_id)

    def wait_for_children(self, parent_id: str, since: str | None = None,
                          wait_s: float = 0.0) -> str:
        """The children's version (their count and latest ``updated``, which status
        changes, abort requests, stored events and updates set), read again whenever this
        process's store commits a write and every :data:`CHILDREN_CHANGE_POLL_S` for the
        writes of other processes."""
        with self._read() as conn:
            self._task_row(conn, parent_id)
        signal = self._db.write_signal
        deadline = time.monotonic() + min(max(wait_s, 0.0), CHILDREN_WAIT_MAX_S)
        while True:
            seen = signal.generation
            version = self._children_version(parent_id)
            left = deadline - time.monotonic()
            if version != since or left <= 0:
                return version
            signal.wait(seen, min(self._db.poll_interval(CHILDREN_CHANGE_POLL_S), left))

    def _children_version(self, parent_id: str) -> str:
        tasks = t.tasks.c
        with self._read() as conn:
            count, latest = conn.execute(
                sa.select(sa.func.count(), sa.func.max(tasks.updated))
                .where(tasks.parent_id == parent_id)).one()
        return f"{count}:{latest.isoformat() if latest is not None else ''}"

    def reap_lost_tasks(self, lost_after_s: float = LOST_AFTER_S) -> list[Task]:
        """Fail running tasks without an agent that showed no life for ``lost_after_s``;
        abort those whose abort was requested and that are quiet (``QUIET_AFTER_S``)."""
        if lost_after_s <= 0:
            raise InvalidInput("lost_after_s must be positive")
        quiet_for = min(QUIET_AFTER_S, lost_after_s)
        tasks = t.tasks.c
        candidates = (sa.select(tasks.id).where(
            tasks.status == TaskStatus.in_progress.value, tasks.worker.is_(None),
            sa.func.coalesce(tasks.last_seen, tasks.started, tasks.updated)
            < utcnow() - timedelta(seconds=quiet_for)))
        reaped: list[Task] = []
        with self._write() as conn:
            for (task_id,) in conn.execute(candidates).all():
                row = self._task_row(conn, task_id, lock=True)  # may have changed since
                if row.status != TaskStatus.in_progress.value or not _quiet(row, quiet_for):
                    continue
                since = _when(_last_sign(row))
                if row.abort_requested:
                    self._apply_status(conn, row, TaskStatus.aborted, reason=(
                        f"aborted: abort requested, no sign of life since {since}"))
                elif _quiet(row, lost_after_s):
                    self._apply_status(conn, row, TaskStatus.failed, reason=(
                        f"process lost: no sign of life since {since}"))
                else:
                    continue
                reaped.append(self._get_task(conn, task_id))
        return reaped

    def clone_task(self, task_id: str, name: str | None = None, parent_id: str | None = None,
                   project: str | None = None) -> Task:
        if name is not None:
            check_name("task", name)
        with self._write() as conn:
            source = self._task_row(conn, task_id)
            project_id = (self._ensure_project(conn, project).id if project is not None
                          else source.project_id)
            if parent_id is not None:
                self._require_task(conn, parent_id)
            clone_id = new_id()
            now = utcnow()
            conn.execute(sa.insert(t.tasks).values(
                id=clone_id, project_id=project_id,
                name=name or f"{source.name} (clone)"[: t.NAME_LENGTH],
                type=source.type, status=TaskStatus.created.value, status_reason="",
                status_message="", parent_id=parent_id, tags=list(source.tags),
                comment=source.comment, user=self.user, created=now, updated=now, queue=None,
                queue_priority=0, worker=None, attempt=0, max_retries=source.max_retries,
                last_iteration=None, abort_requested=False,
            ))
            note_child_change(conn, parent_id)
            for table in (t.parameters, t.configurations, t.scripts, t.environments):
                self._copy_rows(conn, table, task_id, clone_id)
            clone = self._task_row(conn, clone_id)
            self._audit_task(conn, "task.create", clone, {
                "project": clone.project_name, "name": clone.name, "type": clone.type,
                "parent_id": clone.parent_id, "clone_of": task_id})
            return task_from_row(clone)

    def _copy_rows(self, conn: Connection, table: sa.Table, source_id: str, target_id: str) -> None:
        others = [column for column in table.c if column.name not in ("task_id", "user")]
        query = sa.select(sa.literal(target_id), sa.literal(self.user), *others).where(
            table.c.task_id == source_id)
        conn.execute(sa.insert(table).from_select(
            ["task_id", "user", *(column.name for column in others)], query))

    def delete_task(self, task_id: str) -> None:
        """Delete the task and what it recorded; its artifacts' blobs go too once nothing
        else (another task's artifact, a model version) refers to them."""
        with self._write() as conn:
            row = self._task_row(conn, task_id, lock=True)
            if TaskStatus(row.status) in ACTIVE:
                raise Conflict(f"task {task_id} is {row.status}: dequeue or abort it before deleting")
            blobs = {r[0] for r in conn.execute(sa.select(t.artifacts.c.sha256).where(
                t.artifacts.c.task_id == task_id))}
            delete_outputs(conn, task_id)
            conn.execute(sa.delete(t.tasks).where(t.tasks.c.id == task_id))
            # the task's audit entries stay: they refer to it by id, not by a foreign key
            self._audit_task(conn, "task.delete", row, {
                "project": row.project_name, "name": row.name, "type": row.type,
                "status": row.status})
        if blobs:
            with self._read() as conn:
                remove_if_unreferenced(conn, self._db.blobs, blobs)

    # ------------------------------------------------------------ parameters & co
    def set_parameters(self, task_id: str, params: list[Parameter], replace: bool = False) -> None:
        self.set_parameter_chunks(task_id, [params], replace=replace)

    def set_parameter_chunks(self, task_id: str, chunks: Iterable[list[Parameter]],
                             replace: bool = False) -> None:
        """The parameters given as consecutive chunks, written in one transaction: a chunk
        is written before the next is read, so memory holds one chunk (the server streams
        large request bodies through here). Invalid input in any chunk writes nothing.
        A name repeated in a later chunk is counted again in the audit entry."""
        with self._write() as conn:
            self._require_task(conn, task_id, write=True)
            params_of_task = t.parameters.c.task_id == task_id
            before = {(r.section, r.name): r.value for r in conn.execute(
                sa.select(t.parameters.c.section, t.parameters.c.name, t.parameters.c.value)
                .where(params_of_task)).all()}
            if replace:
                conn.execute(sa.delete(t.parameters).where(params_of_task))
            removed = set(before) if replace else set()
            changes = _ParameterChanges()
            for chunk in chunks:
                rows: dict[tuple[str, str], dict[str, Any]] = {}
                for param in chunk:
                    rows[(param.section, param.name)] = {
                        "task_id": task_id, "section": param.section, "name": param.name,
                        "value": param.value, "type": param.type,
                        "description": param.description, "user": self.user,
                        "num_value": numeric_value(param.value)}
                for key, row in rows.items():
                    changes.add(key, before.get(key), row["value"])
                    removed.discard(key)
                if rows:
                    self._upsert(conn, t.parameters, list(rows.values()),
                                 ["task_id", "section", "name"])
            for key in removed:
                changes.add(key, before[key], None)
            details = changes.details()
            if details is not None:
                self._audit(conn, "task.parameters", "task", task_id, details)

    def get_parameters(self, task_id: str) -> list[Parameter]:
        with self._read() as conn:
            self._require_task(conn, task_id)
            rows = conn.execute(
                sa.select(t.parameters).where(t.parameters.c.task_id == task_id)
                .order_by(t.parameters.c.section, t.parameters.c.name)).all()
        return [Parameter(section=r.section, name=r.name, value=r.value, type=r.type,
                          description=r.description) for r in rows]

    def set_configuration(self, task_id: str, config: Configuration) -> None:
        with self._write() as conn:
            self._require_task(conn, task_id, write=True)
            self._upsert(conn, t.configurations, [{
                "task_id": task_id, "name": config.name, "text": config.text,
                "description": config.description, "user": self.user}], ["task_id", "name"])

    def get_configurations(self, task_id: str) -> list[Configuration]:
        with self._read() as conn:
            self._require_task(conn, task_id)
            rows = conn.execute(
                sa.select(t.configurations).where(t.configurations.c.task_id == task_id)
                .order_by(t.configurations.c.name)).all()
        return [Configuration(name=r.name, text=r.text, description=r.description) for r in rows]

    def set_script(self, task_id: str, script: Script) -> None:
        with self._write() as conn:
            self._require_task(conn, task_id, write=True)
            self._upsert(conn, t.scripts, [{"task_id": task_id, "user": self.user,
                                            **script.model_dump()}], ["task_id"])

    def get_script(self, task_id: str) -> Script:
        with self._read() as conn:
            self._require_task(conn, task_id)
            row = conn.execute(sa.select(t.scripts).where(t.scripts.c.task_id == task_id)).first()
        if row is None:
            return Script()
        fields = dict(row._mapping)
        fields.pop("task_id")
        fields.pop("user")
        return Script(**fields)

    def set_environment(self, task_id: str, env: Environment) -> None:
        with self._write() as conn:
            self._require_task(conn, task_id, write=True)
            self._upsert(conn, t.environments, [{"task_id": task_id, "user": self.user,
                                                 "data": env.model_dump(mode="json")}],
                         ["task_id"])

    def get_environment(self, task_id: str) -> Environment:
        with self._read() as conn:
            self._require_task(conn, task_id)
            row = conn.execute(
                sa.select(t.environments.c.data).where(t.environments.c.task_id == task_id)
            ).first()
        return Environment() if row is None else Environment.model_validate(row.data)

    def _upsert(self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]],
                key: list[str]) -> None:
        insert = self._insert(table)
        changed = {name: insert.excluded[name] for name in rows[0] if name not in key}
        conn.execute(insert.on_conflict_do_update(index_elements=key, set_=changed), rows)


__all__ = ["SqlTaskStore", "project_name"]
