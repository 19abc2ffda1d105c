"""Uploading a blob straight to the object storage, the server planning and confirming.

:func:`upload_direct` hashes a seekable stream, asks the server for a plan
(:class:`~tunehouse.store.uploads.UploadPlan`), PUTs the parts on their presigned URLs
(:data:`PARALLEL_PARTS` at once, each streamed in chunks and retried), and confirms; the
server completes the upload and checks its size. Parts an interrupted earlier run already
sent (same size, ETag equal to the MD5 of the bytes) are not sent again. When the server
keeps blobs itself, or the blob is small, the plan says so and the caller sends the
stream through the server (``PUT /blobs``) as before. Everything the SDK, the CLI and the agent upload
goes through here (:class:`~tunehouse.client.areas.HttpArtifactStore.put_blob`).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import httpx

from tunehouse.client.transport import BLOB_CHUNK, direct_client, storage_failure
from tunehouse.common.retry import retrying
from tunehouse.errors import StorageUnavailable, TunehouseError
from tunehouse.store.records import Blob
from tunehouse.store.uploads import (
    BlobUpload,
    PartETag,
    UploadCompletion,
    UploadPart,
    UploadPlan,
)

#: S3's smallest part: a blob below it is never uploaded in parts (no plan is asked).
DIRECT_MIN_BYTES = 5 * 1024 * 1024
#: Parts sent at once.
PARALLEL_PARTS = 4
#: How long one part is retried (transport errors and 5xx answers of the storage).
PART_RETRY_S = 300.0


class _RetryablePart(StorageUnavailable):
    """A part's PUT failed in a way that may pass when sent again."""


def seekable_size(stream: BinaryIO) -> int | None:
    """The bytes left in ``stream`` from its position when it can seek, else None."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
    except (OSError, AttributeError, ValueError):
        return None
    return end - here


def upload_direct(stream: BinaryIO, size: int, plan_upload: Callable[[BlobUpload], UploadPlan],
                  complete_upload: Callable[[UploadCompletion], Blob]) -> Blob | None:
    """Upload ``size`` bytes of the seekable ``stream`` from its position as the server
    plans (see the module docstring); answers the stored blob, or None when the plan says
    "through the server" (``stream`` is back at its position then)."""
    start = stream.tell()
    reader = _RangeReader(stream, start)
    sha256 = reader.digest("sha256", 0, size)
    plan = plan_upload(BlobUpload(sha256=sha256, size=size))
    if plan.stored:
        return Blob(sha256=sha256, size=size)
    if plan.upload_id is None:
        stream.seek(start)
        return None
    with direct_client() as client, ThreadPoolExecutor(PARALLEL_PARTS) as pool:
        etags = list(pool.map(lambda part: _send_part(client, reader, part), plan.parts))
    blob = complete_upload(UploadCompletion(
        sha256=sha256, size=size, upload_id=plan.upload_id,
        parts=[PartETag(number=part.number, etag=etag)
               for part, etag in zip(plan.parts, etags, strict=True)]))
    if (blob.sha256, blob.size) != (sha256, size):
        raise TunehouseError(f"the server stored {blob.sha256} ({blob.size} bytes) for an "
                             f"upload of {sha256} ({size} bytes): the file changed meanwhile?")
    return blob


class _RangeReader:
    """Reads byte ranges of one stream from several threads (a lock around seek+read)."""

    def __init__(self, stream: BinaryIO, start: int) -> None:
        self._stream = stream
        self._start = start
        self._lock = threading.Lock()

    def chunks(self, offset: int, size: int) -> Iterator[bytes]:
        position, end = offset, offset + size
        while position < end:
            with self._lock:
                self._stream.seek(self._start + position)
                chunk = self._stream.read(min(BLOB_CHUNK, end - position))
            if not chunk:
                raise StorageUnavailable("the file being uploaded got shorter meanwhile")
            position += len(chunk)
            yield chunk

    def digest(self, algorithm: str, offset: int, size: int) -> str:
        """The hex digest (``sha256``, ``md5``: a part's ETag) of a range."""
        digest = hashlib.new(algorithm, usedforsecurity=False)
        for chunk in self.chunks(offset, size):
            digest.update(chunk)
        return digest.hexdigest()


def _send_part(client: httpx.Client, reader: _RangeReader, part: UploadPart) -> str:
    """PUT one part (unless an earlier run sent the same bytes); answers its ETag."""
    if part.etag is not None and reader.digest("md5", part.offset, part.size) == part.etag.strip('"'):
        return part.etag
    what = f"uploading part {part.number}"

    def put() -> str:
        try:
            response = client.put(part.url, content=reader.chunks(part.offset, part.size),
                                  headers={"Content-Length": str(part.size)})
        except httpx.TransportError as exc:
            raise _RetryablePart(storage_failure(what, exc).message) from exc
        if response.status_code >= 500:
            raise _RetryablePart(storage_failure(what, response).message)
        if response.status_code >= 400:
            raise storage_failure(what, response)
        return response.headers.get("etag", "").strip('"')

    return retrying(put, time.monotonic() + PART_RETRY_S,
                    retry_on=lambda exc: isinstance(exc, _RetryablePart))
