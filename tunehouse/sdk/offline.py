"""Offline runs: when ``Task.init`` cannot reach the server for ``init_timeout_s``
(``TUNEHOUSE_INIT_TIMEOUT``, default 30 s), the run goes on recording into an embedded
store of its own, ``$TUNEHOUSE_HOME/offline/<task_id>/`` (SQLite plus blob files), under
the task id it would have had on the server. ``tunehouse sync`` later creates the task on
the server with everything it recorded (:func:`sync_offline_runs`), as ClearML's and
W&B's offline modes do.

Sync is idempotent: the task is created under its own id (a second create returns it),
event batches have ids derived from the task's, artifacts are replaced by name, models are
registered once per (task, name, sha256), and the folder is removed only once everything
is stored. A running offline process holds a lock on its folder; sync skips locked folders.
"""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count, islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tunehouse.common.retry import is_retryable
from tunehouse.sdk.spool import LOCK_FILE, fcntl, locked_folder, open_private
from tunehouse.settings import Settings, ensure_private_dir
from tunehouse.store.base import Store
from tunehouse.store.records import (
    ArtifactCreate,
    EventBatch,
    LogEvent,
    ModelCreate,
    StatusChange,
    TaskCreate,
    TaskQuery,
    TaskStatus,
)
from tunehouse.store.records import Task as TaskRecord
from tunehouse.store.status import TERMINAL

if TYPE_CHECKING:  # the SQL store (SQLAlchemy) is imported only when a run goes offline
    from tunehouse.store.sql import SqlStore

OFFLINE_DIR = "offline"
BATCH_EVENTS = 10_000


def offline_root(settings: Settings) -> Path:
    return settings.home / OFFLINE_DIR


@dataclass
class OfflineRun:
    """The embedded store of one offline run and the lock that marks it as running."""

    folder: Path
    store: SqlStore
    _lock: IO[bytes] | None = None

    def release(self) -> None:
        """Let ``tunehouse sync`` upload the folder (called when the process ends)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def start_offline(settings: Settings, task_id: str) -> OfflineRun:
    """Open (create) the offline store of ``task_id`` and lock it for this process."""
    from tunehouse.store.sql import SqlStore

    folder = ensure_private_dir(offline_root(settings) / task_id)
    lock = open_private(folder / LOCK_FILE)
    if fcntl is not None:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    store = SqlStore(f"sqlite:///{folder / 'tunehouse.db'}", folder / "artifacts")
    return OfflineRun(folder=folder, store=store, _lock=lock)


@dataclass
class OfflineSyncResult:
    """What :func:`sync_offline_runs` did."""

    uploaded: list[str] = field(default_factory=list)
    skipped_running: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def sync_offline_runs(settings: Settings, server: Store,
                      warn: Callable[[str], None] | None = None) -> OfflineSyncResult:
    """Create every finished offline run of ``settings.home`` on ``server`` with all it
    recorded, and remove its folder once stored."""
    say = warn or (lambda message: print(message, file=sys.stderr))
    result = OfflineSyncResult()
    root = offline_root(settings)
    if not root.is_dir():
        return result
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        with locked_folder(folder) as locked:
            if not locked:
                result.skipped_running.append(folder.name)
                continue
            try:
                _upload(folder, server)
            except Exception as exc:
                if not is_retryable(exc):
                    say(f"tunehouse: offline run {folder.name} could not be uploaded: {exc}")
                result.failed.append(f"{folder.name}: {exc}")
                continue
        shutil.rmtree(folder, ignore_errors=True)
        result.uploaded.append(folder.name)
    return result


def _upload(folder: Path, server: Store) -> None:
    from tunehouse.store.sql import SqlStore

    with SqlStore(f"sqlite:///{folder / 'tunehouse.db'}", folder / "artifacts") as local:
        for record in local.tasks.list_tasks(TaskQuery(limit=1000)).tasks:
            _upload_task(local, server, record)


def _upload_task(local: SqlStore, server: Store, record: TaskRecord) -> None:
    task_id = record.id
    remote = server.tasks.create_task(TaskCreate(
        id=task_id, project=record.project, name=record.name, type=record.type,
        tags=list(record.tags), comment=record.comment, max_retries=record.max_retries))
    server.tasks.set_parameters(task_id, local.tasks.get_parameters(task_id))
    for config in local.tasks.get_configurations(task_id):
        server.tasks.set_configuration(task_id, config)
    server.tasks.set_script(task_id, local.tasks.get_script(task_id))
    server.tasks.set_environment(task_id, local.tasks.get_environment(task_id))
    for batch in _batches(local, task_id):
        server.events.add_events(batch)
    for artifact in local.artifacts.list_artifacts(task_id):
        _copy_blob(local, server, artifact.sha256)
        server.artifacts.add_artifact(task_id, ArtifactCreate(
            name=artifact.name, kind=artifact.kind, sha256=artifact.sha256, size=artifact.size,
            content_type=artifact.content_type, metadata=artifact.metadata))
    registered = {(m.name, m.sha256) for m in server.models.list_models(task_id=task_id)}
    for model in local.models.list_models(task_id=task_id):
        if (model.name, model.sha256) in registered:
            continue
        _copy_blob(local, server, model.sha256)
        server.models.create_model(ModelCreate(
            name=model.name, framework=model.framework, task_id=task_id, sha256=model.sha256,
            size=model.size, format=model.format, tags=list(model.tags),
            comment=model.comment, metadata=model.metadata))
    if remote.status not in TERMINAL and record.status in TERMINAL:
        server.tasks.change_status(task_id, StatusChange(status=TaskStatus.in_progress,
                                                          keep_if_same=True))
        server.tasks.change_status(task_id, StatusChange(
            status=record.status, reason=record.status_reason or "recorded offline",
            message=record.status_message))


def _batches(local: SqlStore, task_id: str) -> Iterator[EventBatch]:
    """The task's scalars (in report order per metric, with their wall times) and console
    lines as batches, read as they are sent and always cut the same way, so that the batch
    ids derived from their position name the same events on every sync."""
    scalars = local.events.scalar_events(task_id)
    logs = _log_events(local, task_id)
    for number in count():
        scalar_part = list(islice(scalars, BATCH_EVENTS))
        log_part = list(islice(logs, BATCH_EVENTS))
        if not scalar_part and not log_part:
            return
        yield EventBatch(batch_id=f"{task_id}.offline{number}", task_id=task_id,
                         scalars=scalar_part, logs=log_part)


def _log_events(local: SqlStore, task_id: str) -> Iterator[LogEvent]:
    after = 0
    while page := local.events.get_logs(task_id, after_seq=after, limit=BATCH_EVENTS):
        yield from (LogEvent(line.stream, line.text, line.wall) for line in page)
        after = page[-1].seq


def _copy_blob(local: Store, server: Store, sha256: str) -> None:
    server.artifacts.put_blob(io.BufferedReader(_ChunkReader(local.artifacts.open_blob(sha256))))


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (a blob streamed, never whole)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
