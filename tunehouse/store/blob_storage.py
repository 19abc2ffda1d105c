"""Content-addressed blob storage for artifacts and models.

Blobs are addressed by the sha256 of their content, so storing the same content twice
keeps one copy. Uploads are streamed: content is hashed while it is written to a
temporary file and renamed into place once complete, so a reader never sees a partial
blob and memory use does not grow with the blob's size.

:class:`LocalBlobStorage` keeps blobs in a directory;
:class:`~tunehouse.store.s3_blob_storage.S3BlobStorage` in an S3-compatible bucket, where
clients upload and download large blobs directly on presigned URLs
(:meth:`BlobStorage.plan_upload`, :meth:`BlobStorage.download_url`).
:func:`tunehouse.store.blob_location.open_blob_storage` opens the one a
``TUNEHOUSE_ARTIFACTS`` value names.
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.failures import storage_error
from tunehouse.store.records import Blob
from tunehouse.store.uploads import UploadCompletion, UploadPlan

CHUNK_SIZE = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def validate_sha256(sha256: str) -> str:
    """Return ``sha256`` when it is 64 lowercase hex digits, else raise InvalidInput."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise InvalidInput(f"invalid sha256 {sha256!r}: expected 64 lowercase hex digits")
    return sha256


@dataclass(frozen=True)
class StoredBlob:
    """A blob as listed by :meth:`BlobStorage.list_blobs`: its sha256, size and when it
    was written (seconds since the epoch)."""

    sha256: str
    size: int
    modified: float


class BlobStorage(abc.ABC):
    """Where blob content lives. Implementations are thread-safe."""

    #: Where the blobs are, as ``TUNEHOUSE_ARTIFACTS`` names it.
    location: str

    @abc.abstractmethod
    def put(self, stream: BinaryIO) -> Blob:
        """Store everything read from ``stream``; returns its sha256 and size."""

    @abc.abstractmethod
    def open(self, sha256: str) -> Iterator[bytes]:
        """The blob's content in chunks. Raises NotFound when absent."""

    @abc.abstractmethod
    def stat(self, sha256: str) -> Blob:
        """The blob's sha256 and size. Raises NotFound when absent."""

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        try:
            self.stat(sha256)
        except NotFound:
            return False
        return True

    @abc.abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the blob (nothing when it is absent). Whether anything still refers to
        it is the caller's question (:mod:`tunehouse.store.blob_maintenance`)."""

    @abc.abstractmethod
    def list_blobs(self) -> Iterator[StoredBlob]:
        """Every stored blob (complete ones only: no upload in progress), in no order."""

    def download_url(self, sha256: str) -> str | None:
        """A URL clients may GET the blob's content from directly (presigned, valid for a
        while), or None when only the server serves it. NotFound when absent."""
        self.stat(sha256)
        return None

    def plan_upload(self, sha256: str, size: int) -> UploadPlan:
        """How a client should upload a blob it declares (see
        :class:`~tunehouse.store.uploads.UploadPlan`); by default through the server."""
        return UploadPlan(sha256=sha256, size=size, stored=self.exists(sha256))

    def complete_upload(self, done: UploadCompletion) -> Blob:
        """Finish a direct upload planned by :meth:`plan_upload` and check its size. Only
        storages that plan direct uploads have any; InvalidInput here."""
        raise InvalidInput(f"this server stores blobs itself ({type(self).__name__}): "
                           "upload them with PUT /blobs")


class LocalBlobStorage(BlobStorage):
    """Blobs as files under ``root/ab/cd/<sha256>``.

    Args:
        root: Directory of the store (created when missing).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this (validated) sha256 is kept."""
        validate_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: BinaryIO) -> Blob:
        incoming = self.root / "incoming"
        try:
            incoming.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(dir=incoming, prefix="upload-")
        except OSError as exc:
            raise storage_error(exc) or exc from exc
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            target = self.path_for(digest.hexdigest())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp_name, target)
        except BaseException as exc:
            Path(temp_name).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise storage_error(exc) or exc from exc
            raise
        return Blob(sha256=digest.hexdigest(), size=size)

    def open(self, sha256: str) -> Iterator[bytes]:
        path = self.path_for(sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} not found") from None
        return _read_chunks(handle)

    def stat(self, sha256: str) -> Blob:
        try:
            size = self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} not found") from None
        return Blob(sha256=sha256, size=size)

    def delete(self, sha256: str) -> None:
        path = self.path_for(sha256)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise storage_error(exc) or exc from exc

    def list_blobs(self) -> Iterator[StoredBlob]:
        for path in self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"):
            name = path.name
            if not _SHA256.match(name) or path.parent.parent.name != name[:2]:
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # removed meanwhile
                continue
            yield StoredBlob(sha256=name, size=info.st_size, modified=info.st_mtime)


def _read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk
