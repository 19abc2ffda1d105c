"""The ``artifacts`` area: blobs, content-addressed files (artifacts and model weights)
streamed both ways, and the named artifacts of tasks.

Uploads stream the raw request body into the artifact store without holding it in memory
(the store reads it through a file-like adaptor over the ASGI stream); downloads stream
the stored chunks back. Only the sha256 ever names a blob: no client-supplied path
reaches the filesystem.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from tunehouse.server.api._deps import SHA256_PATTERN, Acting, TaskId, operation
from tunehouse.store.base import Store
from tunehouse.store.records import Artifact, ArtifactCreate, Blob

router = APIRouter(tags=["blobs"])



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
                                                              "format": "binary"}}}}})
async def open_blob(sha256: Annotated[str, Path(pattern=SHA256_PATTERN)],
                   who: Acting) -> StreamingResponse:
    """The content of a blob, streamed."""
    chunks = await run_in_threadpool(_open, who.store, sha256)
    return StreamingResponse(chunks, media_type="application/octet-stream")
