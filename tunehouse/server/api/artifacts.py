"""The ``artifacts`` area: blobs, content-addressed files (artifacts and model weights)
streamed both ways, and the named artifacts of tasks.

Uploads stream the raw request body into the artifact store without holding it in memory
(the store reads it through a file-like adaptor over the ASGI stream); downloads stream
the stored chunks back. Only the sha256 ever names a blob: no client-supplied path
reaches the filesystem.

With object storage (``TUNEHOUSE_ARTIFACTS=s3://...``) the server stays out of the data
path of large blobs: ``POST /blobs/uploads`` plans an upload (presigned URLs of its parts),
``POST /blobs/uploads/complete`` finishes it, and ``GET /blobs/{sha256}`` redirects (307)
to a presigned URL, after the same permission check as the stream.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tunehouse.server.api._deps import SHA256_PATTERN, Acting, TaskId, operation
from tunehouse.store.base import Store
from tunehouse.store.records import Artifact, ArtifactCreate, Blob
from tunehouse.store.uploads import BlobUpload, BlobUrl, UploadCompletion, UploadPlan

router = APIRouter(tags=["blobs"])
Sha256 = Annotated[str, Path(pattern=SHA256_PATTERN)]

class _StreamReader(io.RawIOBase):
    """A blocking, readable file over an async byte stream, for use from a worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    async def _next_chunk(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            chunk = anyio.from_thread.run(self._next_chunk)
            if chunk is None:
                self._done = True
            else:
                self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _put(store: Store, reader: _StreamReader) -> Blob:
    with io.BufferedReader(reader, buffer_size=1 << 20) as stream:
        return store.artifacts.put_blob(stream)


@operation(router, "artifacts.add_artifact", response_model=Artifact, status_code=201)
def add_artifact(task_id: TaskId, body: ArtifactCreate, who: Acting) -> Artifact:
    """Register an artifact whose blob was uploaded with ``PUT /blobs``."""
    return who.store.artifacts.add_artifact(task_id, body)


@operation(router, "artifacts.list_artifacts", response_model=list[Artifact])
def list_artifacts(task_id: TaskId, who: Acting) -> list[Artifact]:
    return who.store.artifacts.list_artifacts(task_id)


@operation(router, "artifacts.put_blob", response_model=Blob, status_code=201, openapi_extra={
    "requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def put_blob(request: Request, who: Acting) -> Blob:
    """Store the raw request body; answers its sha256 and size."""
    return await run_in_threadpool(_put, who.store, _StreamReader(request.stream()))


def _open(store: Store, sha256: str) -> Iterator[bytes]:
    chunks = iter(store.artifacts.open_blob(sha256))
    first = next(chunks, b"")  # raises NotFound before the response starts
    return itertools.chain([first], chunks)


@operation(router, "artifacts.open_blob", response_class=StreamingResponse, responses={
    200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                              "format": "binary"}}}},
    307: {"description": "the blob is in object storage: its presigned URL"}})
async def open_blob(sha256: Sha256, who: Acting) -> Response:
    """The content of a blob, streamed; or a redirect to it in object storage."""
    direct = await run_in_threadpool(who.store.artifacts.blob_url, sha256)
    if direct.url is not None:
        return RedirectResponse(direct.url, status_code=307)
    chunks = await run_in_threadpool(_open, who.store, sha256)
    return StreamingResponse(chunks, media_type="application/octet-stream")


@operation(router, "artifacts.blob_url", response_model=BlobUrl)
def blob_url(sha256: Sha256, who: Acting) -> BlobUrl:
    """A presigned URL of the blob in object storage (``url`` null with local storage)."""
    return who.store.artifacts.blob_url(sha256)


@operation(router, "artifacts.plan_upload", response_model=UploadPlan)
def plan_upload(body: BlobUpload, who: Acting) -> UploadPlan:
    """How to upload a blob of this sha256 and size (already stored, through ``PUT /blobs``,
    or in parts on presigned URLs)."""
    return who.store.artifacts.plan_upload(body)


@operation(router, "artifacts.complete_upload", response_model=Blob)
def complete_upload(body: UploadCompletion, who: Acting) -> Blob:
    """Finish a direct upload: the blob is stored once its size is checked."""
    return who.store.artifacts.complete_upload(body)
