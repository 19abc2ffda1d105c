"""Content-addressed blobs and the artifacts of tasks."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import BinaryIO

from tunehouse.store.records import Artifact, ArtifactCreate, Blob
from tunehouse.store.uploads import BlobUpload, BlobUrl, UploadCompletion, UploadPlan


class ArtifactStore(abc.ABC):
    """Blobs (content addressed by sha256, streamed) and the named artifacts of a task."""

    @abc.abstractmethod
    def put_blob(self, stream: BinaryIO) -> Blob:
        """Store content read from ``stream`` (streamed, never whole in memory)."""

    @abc.abstractmethod
    def open_blob(self, sha256: str) -> Iterator[bytes]:
        """The content of a blob in chunks. NotFound when absent."""

    @abc.abstractmethod
    def plan_upload(self, spec: BlobUpload) -> UploadPlan:
        """How to upload a blob whose sha256 and size the client declares: already stored,
        through :meth:`put_blob`, or directly to the object storage on presigned URLs
        (then confirmed with :meth:`complete_upload`)."""

    @abc.abstractmethod
    def complete_upload(self, spec: UploadCompletion) -> Blob:
        """Finish a direct upload of :meth:`plan_upload`: the blob becomes visible once its
        size is checked. InvalidInput when the storage has no direct uploads."""

    @abc.abstractmethod
    def blob_url(self, sha256: str) -> BlobUrl:
        """A presigned URL to read the blob's content directly from the object storage
        (``url`` None when the storage has none: read it with :meth:`open_blob`).
        NotFound when absent."""

    @abc.abstractmethod
    def add_artifact(self, task_id: str, spec: ArtifactCreate) -> Artifact:
        """Register (or replace, by name) an artifact whose blob is already stored."""

    @abc.abstractmethod
    def list_artifacts(self, task_id: str) -> list[Artifact]: ...
