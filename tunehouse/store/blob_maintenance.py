"""Looking after the blob storage: which blobs something refers to, removing those nothing
refers to (a deleted task's, and ``tunehouse artifacts gc``), and copying a store into
another (``tunehouse artifacts migrate``).

A blob is referred to by the artifacts of tasks and by model versions (``artifacts.sha256``,
``models.sha256``); nothing else names one. Uploading a blob and registering it are two
calls, so a blob younger than the collector's grace period is never removed: it may be an
upload whose artifact is about to be registered.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tunehouse.errors import NotFound, TunehouseError
from tunehouse.store import schema as t
from tunehouse.store.blob_storage import BlobStorage

log = logging.getLogger("tunehouse.store")

#: Default grace period of the collector: blobs written within it are kept.
GC_MIN_AGE_S = 24 * 3600


def _references(sha256s: Iterable[str] | None) -> sa.CompoundSelect:
    by_artifact = sa.select(t.artifacts.c.sha256)
    by_model = sa.select(t.models.c.sha256)
    if sha256s is not None:
        wanted = list(sha256s)
        by_artifact = by_artifact.where(t.artifacts.c.sha256.in_(wanted))
        by_model = by_model.where(t.models.c.sha256.in_(wanted))
    return sa.union(by_artifact, by_model)


def referenced(conn: Connection, sha256s: Iterable[str] | None = None) -> set[str]:
    """The blobs (of ``sha256s``, or all) an artifact or a model version refers to."""
    return {row[0] for row in conn.execute(_references(sha256s))}


def remove_if_unreferenced(conn: Connection, blobs: BlobStorage, sha256s: set[str]) -> None:
    """Remove those of ``sha256s`` nothing refers to any more (after the transaction that
    dropped their last reference committed). A blob uploaded again for a new artifact at
    this very moment may be removed under it: registering that artifact then fails with
    "not found", and the upload is retried; ``gc``'s grace period avoids the same race.
    A blob the storage fails to remove is logged and left to ``gc``."""
    for sha256 in sorted(sha256s - referenced(conn, sha256s)):
        try:
            blobs.delete(sha256)
        except TunehouseError as exc:  # the deletion stands; `gc` removes the blob later
            log.warning("could not remove blob %s: %s", sha256, exc.message)


@dataclass
class GcReport:
    """What the collector found (and removed, unless it was a dry run)."""

    unreferenced: list[tuple[str, int]] = field(default_factory=list)
    kept_young: int = 0
    stale_uploads: int = 0
    removed: bool = False

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.unreferenced)


def collect_garbage(engine: Engine, blobs: BlobStorage, remove: bool,
                    min_age_s: float = GC_MIN_AGE_S) -> GcReport:
    """Find the blobs nothing refers to that are older than ``min_age_s``, and remove them
    (and, in S3, uploads and staging objects as old) when ``remove`` is set."""
    with engine.connect() as conn:
        used = referenced(conn)
    cutoff = time.time() - min_age_s
    report = GcReport(removed=remove)
    for blob in blobs.list_blobs():
        if blob.sha256 in used:
            continue
        if blob.modified > cutoff:
            report.kept_young += 1
            continue
        report.unreferenced.append((blob.sha256, blob.size))
    if remove:
        with engine.connect() as conn:  # referred to meanwhile: keep
            again = referenced(conn, [sha for sha, _ in report.unreferenced])
        report.unreferenced = [(sha, size) for sha, size in report.unreferenced
                               if sha not in again]
        for sha256, _ in report.unreferenced:
            blobs.delete(sha256)
        abort = getattr(blobs, "abort_stale_uploads", None)
        if abort is not None:
            report.stale_uploads = int(abort(cutoff))
    return report


@dataclass
class MigrateReport:
    """What a migration did: blobs copied, found already there (a resumed run), and those
    whose content did not match their sha256 at the source (not copied)."""

    copied: int = 0
    present: int = 0
    corrupt: list[str] = field(default_factory=list)
    bytes_copied: int = 0


class _ChunkStream(io.RawIOBase):
    """A readable stream over chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def migrate_blobs(source: BlobStorage, target: BlobStorage,
                  progress: Callable[[str, str], None] = lambda sha, what: None
                  ) -> MigrateReport:
    """Copy every blob of ``source`` into ``target``, checking each one's sha256 on the
    way; a blob ``target`` already holds with the same size is not copied again, so an
    interrupted run is resumed by running it again. ``progress(sha256, what)`` is told
    ``copied``, ``present`` or ``corrupt`` for each. ``source`` is left as it was."""
    report = MigrateReport()
    for blob in source.list_blobs():
        try:
            if target.stat(blob.sha256).size == blob.size:
                report.present += 1
                progress(blob.sha256, "present")
                continue
        except NotFound:
            pass
        stream = _ChunkStream(iter(source.open(blob.sha256)))
        stored = target.put(io.BufferedReader(stream, buffer_size=1 << 20))
        if stored.sha256 != blob.sha256:
            # what was read is stored under its own address, which nothing refers to
            # (unless the same content is another blob): `gc` removes it
            report.corrupt.append(blob.sha256)
            progress(blob.sha256, "corrupt")
            continue
        report.copied += 1
        report.bytes_copied += stored.size
        progress(blob.sha256, "copied")
    return report
