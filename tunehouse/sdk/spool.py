"""The on-disk spool of event batches that could not be sent (yet).

Layout: ``$TUNEHOUSE_SPOOL/<task_id>/<time_ns>-<batch_id>.json`` (``$TUNEHOUSE_SPOOL``
defaults to ``$TUNEHOUSE_HOME/spool``). The time prefix makes the file name order the
order batches were made in. Files are written atomically (temporary file, fsync,
rename). A batch the store rejected for good (a 4xx other than 401/503) moves to
``<task_id>/rejected/`` with the reason, so nothing is silently lost.

A process that owns a task's spool holds an exclusive ``flock`` on ``<task_id>/.lock``;
:func:`sync_spool` (``tunehouse sync``) skips folders that are locked, so it only uploads
what dead processes left behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from tunehouse.common.retry import is_retryable
from tunehouse.errors import InvalidInput
from tunehouse.store.records import EventBatch, LogEvent, ScalarEvent

if TYPE_CHECKING:
    from tunehouse.settings import Settings
    from tunehouse.store.base import Store

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
MAX_BATCH_ID = 64
REJECTED_DIR = "rejected"

def is_content_problem(exc: BaseException) -> bool:
    """True when the store refused what a batch holds (422): its halves may pass."""
    return isinstance(exc, InvalidInput)


def batch_payload(batch_id: str, task_id: str, scalars: list[tuple[Any, ...]],
                  logs: list[tuple[Any, ...]]) -> dict[str, Any]:
    return {"batch_id": batch_id, "task_id": task_id, "scalars": scalars, "logs": logs}


def event_count(payload: dict[str, Any]) -> int:
    """Scalars plus console lines in a batch payload."""
    return len(payload["scalars"]) + len(payload["logs"])


def split_payload(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The two halves of a batch (events in order), each with a batch id derived from the
    batch's, so that resending a half is still stored once; ``[]`` for a single event."""
    scalars, logs = payload["scalars"], payload["logs"]
    total = len(scalars) + len(logs)
    if total < 2:
        return []
    half = total // 2
    cut_logs = max(0, half - len(scalars))
    parts = ((scalars[:half], logs[:cut_logs]), (scalars[half:], logs[cut_logs:]))
    halves = []
    for index, (part_scalars, part_logs) in enumerate(parts):
        batch_id = f"{payload['batch_id']}.{index}"
        if len(batch_id) > MAX_BATCH_ID:
            batch_id = uuid.uuid4().hex
        halves.append(batch_payload(batch_id, payload["task_id"], part_scalars, part_logs))
    return halves


def to_event_batch(payload: dict[str, Any]) -> EventBatch:
    """An :class:`EventBatch` from a payload whose events were already validated."""
    return EventBatch.model_construct(
        batch_id=payload["batch_id"],
        task_id=payload["task_id"],
        scalars=[ScalarEvent(*event) for event in payload["scalars"]],
        logs=[LogEvent(*event) for event in payload["logs"]],
    )


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing: a temporary file next to it, fsync,
    rename. When any step fails (a full disk) the temporary file is removed and the
    error raised."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@dataclass
class TaskSpool:
    """The spool folder of one task, owned (locked) by this process.

    Methods are called by the reporter thread and, when the buffer overflows, by the
    training thread; the reporter serialises them with its own lock.
    """

    root: Path
    task_id: str
    pending: list[Path] = field(default_factory=list)
    _lock_handle: IO[bytes] | None = None

    @property
    def folder(self) -> Path:
        return self.root / self.task_id

    def open(self) -> None:
        """Lock the folder and pick up batches left by an earlier process of this task."""
        if self._lock_handle is not None:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_handle = open_private(self.folder / LOCK_FILE)
        if fcntl is not None:
            try:
                fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another live process of this task owns the leftovers
        self.pending = sorted(self.folder.glob("*.json"))

    def write(self, payload: dict[str, Any]) -> Path:
        """Spool a batch behind the others. Raises OSError when the spool cannot be
        written (the reporter then holds the batch in memory)."""
        self.open()
        path = self.folder / f"{time.time_ns():020d}-{payload['batch_id']}.json"
        write_atomic(path, orjson.dumps(payload))
        self.pending.append(path)
        return path

    def split(self, path: Path) -> bool:
        """Replace a spooled batch by its two halves, in its place; False when it holds a
        single event (or the halves cannot be written)."""
        try:
            paths = split_file(path, self.read(path))
        except OSError:
            return False
        if not paths:
            return False
        index = self.pending.index(path)
        self.pending[index:index + 1] = paths
        return True

    def read(self, path: Path) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(path.read_bytes())
        return data

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.pending.remove(path)

    def reject(self, path: Path, reason: str) -> Path:
        target = reject_file(path, reason)
        self.pending.remove(path)
        return target

    def close(self) -> None:
        """Release the lock; remove the folder when nothing is left in it."""
        if self._lock_handle is None:
            return
        handle, self._lock_handle = self._lock_handle, None
        if not self.pending and not (self.folder / REJECTED_DIR).exists():
            (self.folder / LOCK_FILE).unlink(missing_ok=True)
            handle.close()
            with contextlib.suppress(OSError):
                self.folder.rmdir()
        else:
            handle.close()


def reject_file(path: Path, reason: str) -> Path:
    """Move a spooled batch to ``rejected/`` next to it with a ``.reason`` file."""
    folder = path.parent / REJECTED_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / path.name
    os.replace(path, target)
    write_atomic(target.with_suffix(".reason"), (reason + "\n").encode())
    return target


def open_private(path: Path) -> IO[bytes]:
    """``path`` opened for appending, created readable by its owner only (0600)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")


def split_file(path: Path, payload: dict[str, Any]) -> list[Path]:
    """Replace the spool file ``path`` (holding ``payload``) by files of its two halves,
    named to sort where it did; [] for a single event. Raises OSError when the halves
    cannot be written (then the file stays as it was)."""
    halves = split_payload(payload)
    if not halves:
        return []
    prefix = path.name.split("-", 1)[0]
    paths = [path.with_name(f"{prefix}-{half['batch_id']}.json") for half in halves]
    try:
        for half, half_path in zip(halves, paths, strict=True):
            write_atomic(half_path, orjson.dumps(half))
    except OSError:
        for half_path in paths:
            half_path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)
    return paths


@dataclass
class SyncResult:
    """What :func:`sync_spool` did."""

    sent: int = 0
    duplicates: int = 0
    rejected: int = 0
    split: int = 0
    skipped_locked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Batches the store refused for good, kept in ``<task>/rejected/`` (this sync's and
    #: earlier ones'), by task id.
    kept_rejected: dict[str, int] = field(default_factory=dict)


def sync_spool(settings: Settings, store: Store | None = None,
               warn: Callable[[str], None] | None = None) -> SyncResult:
    """Upload the batches that dead processes left in the spool, oldest first.

    Each batch is stored at most once (the store ignores a ``batch_id`` it already has)
    and its file removed once acknowledged. Folders locked by a live process are skipped.

    Args:
        settings: The :class:`~tunehouse.settings.Settings` whose ``offline_spool`` to read.
        store: The store to send to; opened from ``settings`` when omitted.
        warn: Where to print problems (default: stderr).
    """
    say = warn or (lambda message: print(message, file=sys.stderr))
    root = Path(settings.offline_spool)
    result = SyncResult()
    if not root.is_dir():
        return result
    if store is None:
        from tunehouse.client import open_store

        with open_store(settings) as opened:
            return sync_spool(settings, opened, warn)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        _sync_folder(folder, store, result, say)
    return result


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[bool]:
    """Lock ``folder`` (its ``.lock`` file) for this block; yields False when a live
    process holds it."""
    handle = open_private(folder / LOCK_FILE)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
        yield True
    finally:
        handle.close()


def _sync_folder(folder: Path, store: Store, result: SyncResult,
                 say: Callable[[str], None]) -> None:
    with locked_folder(folder) as locked:
        if not locked:
            result.skipped_locked.append(folder.name)
            return
        _sync_locked_folder(folder, store, result, say)
    if not any(folder.glob("*.json")) and not (folder / REJECTED_DIR).exists():
        (folder / LOCK_FILE).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()


def _sync_locked_folder(folder: Path, store: Store, result: SyncResult,
                        say: Callable[[str], None]) -> None:
    work = sorted(folder.glob("*.json"))
    while work:
        path = work.pop(0)
        try:
            payload = orjson.loads(path.read_bytes())
            outcome = store.events.add_events(to_event_batch(payload))
        except orjson.JSONDecodeError as exc:
            reject_file(path, f"unreadable spool file: {exc}")
            result.rejected += 1
            say(f"tunehouse: kept unreadable spool file in rejected/: {path.name}")
            continue
        except Exception as exc:
            if is_retryable(exc):
                result.failed.append(f"{folder.name}: {exc}")
                return
            halves = split_file(path, payload) if is_content_problem(exc) else []
            if halves:  # send the halves on their own: their valid events get stored
                result.split += 1
                work[:0] = halves
                continue
            reject_file(path, f"{type(exc).__name__}: {exc}")
            result.rejected += 1
            say(f"tunehouse: a report of task {folder.name} was rejected: {exc}")
            continue
        path.unlink(missing_ok=True)
        result.sent += 1
        result.duplicates += int(bool(outcome.duplicate))
    kept = len(list((folder / REJECTED_DIR).glob("*.json")))
    if kept:
        result.kept_rejected[folder.name] = kept
