"""Content-addressed blobs and the artifacts of tasks."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import BinaryIO

from tunehouse.store.records import Artifact, ArtifactCreate, Blob


class ArtifactStore(abc.ABC):
    """Blobs (content addressed by sha256, streamed) and the named artifacts of a task."""

    @abc.abstractmethod
    def put_blob(self, stream: BinaryIO) -> Blob:
        """Store content read from ``stream`` (streamed, never whole in memory)."""

    @abc.abstractmethod
    def open_blob(self, sha256: str) -> Iterator[bytes]:
        """The content of a blob in chunks. NotFound when absent."""

    @abc.abstractmethod
    def add_artifact(self, task_id: str, spec: ArtifactCreate) -> Artifact:
        """Register (or replace, by name) an artifact whose blob is already stored."""

    @abc.abstractmethod
    def list_artifacts(self, task_id: str) -> list[Artifact]: ...
