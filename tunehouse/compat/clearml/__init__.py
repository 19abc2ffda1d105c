"""ClearML's API on tunehouse: code written for ClearML (``from clearml import Task``)
runs unmodified against ``tunehouse server``.

The server mounts :func:`build_routes` under ``/clearml`` (the API, ``CLEARML_API_HOST``)
and ``/clearml-files`` (the file server, ``CLEARML_FILES_HOST``). One module per ClearML
service (:mod:`.auth`, :mod:`.projects`, :mod:`.tasks`, :mod:`.events`; the file
server is :mod:`.files`), each a table
``ACTIONS`` of ``service.action`` → handler over the store's interfaces; the server
hands in a :class:`~.call.Backend` that checks API keys and builds the guarded store of
the key's user, so every call is checked and audited like the JSON API's.
docs/clearml.md maps ClearML's task model to tunehouse's.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tunehouse.common.clearml import API_MOUNT, FILES_MOUNT
from tunehouse.compat.clearml.call import Backend
from tunehouse.compat.clearml.dispatch import handle
from tunehouse.compat.clearml.files import serve

__all__ = ["API_MOUNT", "FILES_MOUNT", "Backend", "build_routes"]


def build_routes(backend: Backend) -> list[Route]:
    """The routes of the ClearML API and file server (left out of the OpenAPI document:
    they are ClearML's API, not tunehouse's)."""

    async def api(request: Request) -> Response:
        return await handle(request, backend, request.path_params.get("path", ""))

    async def files(request: Request) -> Response:
        return await serve(request, backend, request.path_params.get("path", ""))

    methods = ["GET", "POST", "PUT"]
    file_methods = [*methods, "HEAD", "DELETE"]
    # the mount points themselves too (the SDK posts uploads to the bare files host)
    return [Route(mount + suffix, handler, methods=verbs, include_in_schema=False)
            for mount, handler, verbs in ((API_MOUNT, api, methods),
                                          (FILES_MOUNT, files, file_methods))
            for suffix in ("", "/{path:path}")]
