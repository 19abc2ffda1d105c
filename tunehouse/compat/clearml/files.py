"""ClearML's file server on tunehouse's artifact store, for the files of tasks.

The SDK uploads with ``POST {files host}`` (multipart: each part's field name is the
object's path, e.g. ``project/train.<task id>/artifacts/stats/stats.json``) and reads
with ``GET {files host}/<path>``, sending its login token. A path must name a task (a
segment ``<name>.<task id>``): the file becomes that task's artifact ``files/<path>``
(kind ``clearml-file``), its bytes a content-addressed blob, written and read with the
same permissions as any artifact of the task. Deleting is not supported yet (400).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tunehouse.compat.clearml.call import Backend, Call
from tunehouse.compat.clearml.dispatch import authenticate_token
from tunehouse.compat.clearml.envelope import ApiError, from_tunehouse, from_validation
from tunehouse.compat.clearml.paths import FILE_KIND, artifact_name
from tunehouse.errors import NotFound, TunehouseError
from tunehouse.store.records import ArtifactCreate

logger = logging.getLogger(__name__)

async def serve(request: Request, backend: Backend, path: str) -> Response:
    """Answer one request to the file server at ``path`` (below its mount point)."""
    try:
        call = await run_in_threadpool(authenticate_token, request, backend)
        if request.method == "POST":
            kind = request.headers.get("content-type", "")
            if not kind.startswith("multipart/form-data") or "boundary=" not in kind:
                raise ApiError(400, "malformed multipart upload: send multipart/form-data "
                                    "with a boundary, the field name being the file's path")
            try:
                form = await request.form()
            except Exception as exc:  # the parser's errors are no one class (KeyError too)
                raise ApiError(400, f"malformed multipart upload: {exc!r}"[:300]) from None
            try:
                uploads = [(str(key), value) for key, value in form.multi_items()
                           if isinstance(value, UploadFile)]
                if not uploads:
                    raise ApiError(400, "no file in the upload (multipart, the field name "
                                        "being the file's path)")
                stored = [await run_in_threadpool(_store, call, path, key, upload)
                          for key, upload in uploads]
            finally:
                await form.close()
            return JSONResponse({"uploaded": stored})
        if request.method in ("GET", "HEAD"):
            return await run_in_threadpool(_read, call, path, request.method == "HEAD")
        raise ApiError(400, f"{request.method} on the ClearML file server is not supported "
                            "by tunehouse yet (see docs/clearml.md)")
    except ApiError as exc:
        return _error(exc)
    except TunehouseError as exc:
        return _error(from_tunehouse(exc))
    except ValidationError as exc:
        return _error(from_validation(exc))
    except Exception:  # a JSON answer naming the failure, never a traceback
        logger.exception("ClearML file server %s %s failed", request.method, path)
        return _error(ApiError(500, "internal error in the ClearML file server"))


def _error(exc: ApiError) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.code)


def _store(call: Call, prefix: str, key: str, upload: UploadFile) -> dict[str, Any]:
    """Keep one uploaded file as its task's artifact."""
    path = "/".join(part for part in (prefix.strip("/"), key.strip("/")) if part)
    task_id, name = artifact_name(path)
    store = call.for_task(task_id)  # the owner's, for an agent account running the task
    store.tasks.get_task(task_id)  # 404 before the bytes are stored
    blob = store.artifacts.put_blob(upload.file)
    store.artifacts.add_artifact(task_id, ArtifactCreate(
        name=name, kind=FILE_KIND, sha256=blob.sha256, size=blob.size,
        content_type=upload.content_type or "application/octet-stream",
        metadata={"path": path}))
    return {"path": path, "size": blob.size, "sha256": blob.sha256}


def _read(call: Call, path: str, head: bool) -> Response:
    task_id, name = artifact_name(path)
    found = [a for a in call.store.artifacts.list_artifacts(task_id) if a.name == name]
    if not found:
        raise NotFound(f"no file {path.strip('/')!r} on the file server")
    artifact = found[0]
    headers = {"Content-Length": str(artifact.size)}
    if head:
        return Response(headers=headers, media_type=artifact.content_type)
    chunks: Iterator[bytes] = call.store.artifacts.open_blob(artifact.sha256)
    return StreamingResponse(chunks, media_type=artifact.content_type, headers=headers)
