"""Blobs and task artifacts of the SQL store (blob content lives in a
:class:`~tunehouse.store.blob_storage.BlobStorage`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import sqlalchemy as sa

from tunehouse.errors import InvalidInput
from tunehouse.store import schema as t
from tunehouse.store.blob_storage import BlobStorage
from tunehouse.store.interfaces.artifacts import ArtifactStore
from tunehouse.store.records import Artifact, ArtifactCreate, Blob
from tunehouse.store.sql.database import SqlArea, utcnow
from tunehouse.store.uploads import BlobUpload, BlobUrl, UploadCompletion, UploadPlan


def check_blob(blobs: BlobStorage, sha256: str, size: int) -> None:
    """InvalidInput unless the blob is stored with exactly ``size`` bytes (NotFound when
    it is not stored at all)."""
    stored = blobs.stat(sha256)
    if stored.size != size:
        raise InvalidInput(f"blob {sha256} holds {stored.size} bytes, not {size}")


class SqlArtifactStore(SqlArea, ArtifactStore):
    """Blobs and artifacts on SQL (see :class:`~tunehouse.store.interfaces.ArtifactStore`)."""

    def put_blob(self, stream: BinaryIO) -> Blob:
        return self._db.blobs.put(stream)

    def open_blob(self, sha256: str) -> Iterator[bytes]:
        return self._db.blobs.open(sha256)

    def plan_upload(self, spec: BlobUpload) -> UploadPlan:
        return self._db.blobs.plan_upload(spec.sha256, spec.size)

    def complete_upload(self, spec: UploadCompletion) -> Blob:
        return self._db.blobs.complete_upload(spec)

    def blob_url(self, sha256: str) -> BlobUrl:
        return BlobUrl(url=self._db.blobs.download_url(sha256))

    def add_artifact(self, task_id: str, spec: ArtifactCreate) -> Artifact:
        check_blob(self._db.blobs, spec.sha256, spec.size)
        now = utcnow()
        row = {"task_id": task_id, "name": spec.name, "kind": spec.kind, "sha256": spec.sha256,
               "size": spec.size, "content_type": spec.content_type,
               "metadata": spec.metadata, "user": self.user, "created": now}
        with self._write() as conn:
            self._require_task(conn, task_id, write=True)
            insert = self._insert(t.artifacts).values(**row)
            conn.execute(insert.on_conflict_do_update(
                index_elements=["task_id", "name"],
                set_={name: insert.excluded[name] for name in row if name not in ("task_id", "name")}))
        return Artifact(task_id=task_id, name=spec.name, kind=spec.kind, sha256=spec.sha256,
                        size=spec.size, content_type=spec.content_type,
                        metadata=spec.metadata, created=now)

    def blob_projects(self, sha256: str) -> list[str | None]:
        """The ids of the projects whose artifacts or models refer to blob ``sha256`` (None
        for a model without a project); empty when nothing refers to it. Not part of the
        interface: the server decides with it who may read a blob
        (:mod:`tunehouse.server.guarded`)."""
        by_artifact = (sa.select(t.tasks.c.project_id)
                       .join(t.artifacts, t.artifacts.c.task_id == t.tasks.c.id)
                       .where(t.artifacts.c.sha256 == sha256))
        by_model = sa.select(t.models.c.project_id).where(t.models.c.sha256 == sha256)
        with self._read() as conn:
            rows = conn.execute(sa.union(by_artifact, by_model)).all()
        return [row[0] for row in rows]

    def list_artifacts(self, task_id: str) -> list[Artifact]:
        with self._read() as conn:
            self._require_task(conn, task_id)
            rows = conn.execute(sa.select(t.artifacts).where(t.artifacts.c.task_id == task_id)
                                .order_by(t.artifacts.c.name)).all()
        return [Artifact(task_id=r.task_id, name=r.name, kind=r.kind, sha256=r.sha256,
                         size=r.size, content_type=r.content_type, metadata=r.metadata,
                         created=r.created) for r in rows]
