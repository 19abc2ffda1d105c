"""Content-addressed blob storage for artifacts and models.

Blobs are addressed by the sha256 of their content, so storing the same content twice
keeps one copy. Uploads are streamed: content is hashed while it is written to a
temporary file and renamed into place once complete, so a reader never sees a partial
blob and memory use does not grow with the blob's size.

:class:`LocalBlobStorage` keeps blobs in a directory; S3-compatible storage will be
another implementation of :class:`BlobStorage`.
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.failures import storage_error
from tunehouse.store.records import Blob

CHUNK_SIZE = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def validate_sha256(sha256: str) -> str:
    """Return ``sha256`` when it is 64 lowercase hex digits, else raise InvalidInput."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise InvalidInput(f"invalid sha256 {sha256!r}: expected 64 lowercase hex digits")
    return sha256


class BlobStorage(abc.ABC):
    """Where blob content lives. Implementations are thread-safe."""

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


class LocalBlobStorage(BlobStorage):
    """Blobs as files under ``root/ab/cd/<sha256>``.

    Args:
        root: Directory of the store (created when missing).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

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


def _read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk
