"""The ClearML API's one route: parse ``[/v2.N]/service.action``, the JSON body and the
token, call the endpoint's handler, answer in the envelope, whatever happens.

Calls come as GET with a JSON body (the SDK's default), POST or PUT; the body may be
empty. ``auth.login`` takes HTTP Basic (an API key) or a still valid token; every other
endpoint ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from tunehouse.compat.clearml import (
    auth,
    events,
    models,
    projects,
    queues,
    tasks,
    tokens,
    workers,
)
from tunehouse.compat.clearml.body import Body
from tunehouse.compat.clearml.call import Backend, Call, Handler
from tunehouse.compat.clearml.envelope import (
    ApiError,
    Endpoint,
    envelope,
    from_tunehouse,
    from_validation,
)
from tunehouse.errors import TunehouseError

logger = logging.getLogger(__name__)

_PATH = re.compile(r"^/*(?:v(?P<version>\d+\.\d+)/)?(?P<service>[a-z_]+)\.(?P<action>[a-z_]+)/?$")

#: Every endpoint served, ``service.action`` → handler.
HANDLERS: dict[str, Handler] = {**projects.ACTIONS, **tasks.ACTIONS, **events.ACTIONS,
                                **models.ACTIONS, **queues.ACTIONS, **workers.ACTIONS}

#: Endpoints of ClearML's API that tunehouse does not serve yet, answered with a 400 that
#: names them (docs/clearml.md lists them). Any other name is answered with a 404.
NOT_YET: frozenset[str] = frozenset({
    *tasks.NOT_YET, *events.NOT_YET, *projects.NOT_YET, *models.NOT_YET, *queues.NOT_YET,
    *workers.NOT_YET, "users.get_vaults", "users.get_current_user",
    "users.get_preferences", "auth.create_credentials", "auth.get_credentials",
    "server.info",
})


#: Services whose calls about a task an agent account runs act as the task's owner
#: (``workers.status_report`` names its task too, but reports the agent's own worker).
OWNER_SERVICES = frozenset({"tasks", "events", "models"})

#: Endpoints whose body is not one JSON object (newline-delimited JSON).
RAW_BODIES = frozenset({"events.add_batch"})


def not_yet(name: str) -> ApiError:
    """The answer of an endpoint tunehouse knows but does not serve yet."""
    return ApiError(400, f"{name} is not supported by tunehouse yet (see docs/clearml.md)",
                    subcode=1)


async def handle(request: Request, backend: Backend, path: str) -> JSONResponse:
    """Answer one call to the ClearML API at ``path`` (below the mount point): the
    credentials are checked before the body is read, a body over the server's limit is
    refused (413) as it streams in, and a large one is read in one of the server's
    large-body slots."""
    match = _PATH.match(path)
    endpoint = Endpoint(
        name=f"{match['service']}.{match['action']}" if match else (path.strip("/") or "/"),
        requested_version=(match["version"] if match and match["version"] else ""))
    try:
        if match is None:
            raise ApiError(404, f"no such endpoint {path!r}: expected [/v2.N]/service.action")
        caller = await run_in_threadpool(_authenticate, request, backend, endpoint.name)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= backend.large_body_bytes:
            data = await _serve(request, backend, endpoint.name, caller)
        else:
            async with backend.large_body():
                data = await _serve(request, backend, endpoint.name, caller)
    except ApiError as exc:
        logger.debug("ClearML API %s answered %d: %s", endpoint.name, exc.code, exc.message)
        return _answer(endpoint, error=exc)
    except TunehouseError as exc:
        return _answer(endpoint, error=from_tunehouse(exc))
    except ValidationError as exc:
        return _answer(endpoint, error=from_validation(exc))
    except Exception:  # every failure answers in the envelope, never a bare 500
        logger.exception("ClearML API endpoint %s failed", endpoint.name)
        return _answer(endpoint, error=ApiError(500, f"internal error in {endpoint.name}"))
    return _answer(endpoint, data=data)


async def _serve(request: Request, backend: Backend, name: str,
                 caller: Call | dict[str, Any]) -> dict[str, Any]:
    """Read the body and run the handler (a login's answer is ready already)."""
    if isinstance(caller, dict):
        return caller
    caller.body = await _body(request, name, backend.max_body_bytes)
    return await run_in_threadpool(_run, name, caller)


def _run(name: str, call: Call) -> dict[str, Any]:
    """Run endpoint ``name``; a call about a task that the caller (an agent account)
    runs acts as the task's owner (:meth:`Backend.runner_store`)."""
    task_id = task_of(call.body, batch=name in RAW_BODIES)
    if task_id and name.split(".", 1)[0] in OWNER_SERVICES:
        call.store = call.for_task(task_id)
    return HANDLERS[name](call)


def task_of(body: Body, batch: bool = False) -> str | None:
    """The task a call is about: its ``task`` field, or the first event's of a batch."""
    found = body.data.get("task")
    if found is None and batch and body.raw:
        try:
            first = json.loads(body.raw.lstrip().split(b"\n", 1)[0] or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None  # the handler answers the malformed batch
        found = first.get("task") if isinstance(first, dict) else None
    return found if isinstance(found, str) and found else None


def _answer(endpoint: Endpoint, data: dict[str, Any] | None = None,
            error: ApiError | None = None) -> JSONResponse:
    return JSONResponse(envelope(endpoint, data, error), status_code=error.code if error else 200)


async def _body(request: Request, name: str, limit: int) -> Body:
    """The call's JSON object, query parameters merged in (the body wins); the lines of
    a batch (:data:`RAW_BODIES`) are left to their handler. 413 past ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is over the server's limit of {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    data: dict[str, Any] = dict(request.query_params)
    if raw.strip() and name not in RAW_BODIES:
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"malformed JSON body: {exc}") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, f"the body must be a JSON object, got {type(parsed).__name__}")
        data.update(parsed)
    return Body(data, raw)


def _authenticate(request: Request, backend: Backend, name: str) -> Call | dict[str, Any]:
    """The authenticated call to ``name`` (its body still unread), or the answer of a
    login (blocking: the database)."""
    scheme = request.headers.get("authorization", "").strip().partition(" ")[0]
    if name == "auth.login" and scheme.lower() == "basic":
        return auth.login(backend, request, Body(dict(request.query_params)))
    if name not in HANDLERS and name != "auth.login":
        if name in NOT_YET:
            raise not_yet(name)
        raise ApiError(404, f"unknown endpoint {name}: not part of ClearML's API as tunehouse "
                            "serves it (see docs/clearml.md)")
    call = authenticate_token(request, backend)
    if name == "auth.login":  # a token refreshing itself
        return {"token": tokens.issue(backend.token_key, call.user, call.key, admin=call.admin)}
    return call


def authenticate_token(request: Request, backend: Backend) -> Call:
    """The call of the request's ``Authorization: Bearer`` token, its body not read yet;
    ApiError 401 without a valid one (blocking: the database)."""
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise ApiError(401, "authentication required: log in with auth.login (HTTP Basic with "
                            "a tunehouse API key) and send Authorization: Bearer <token>",
                       subcode=20)
    claims = tokens.verify(backend.token_key, credentials.strip())
    user, key = claims["identity"]["user"], str(claims.get("key", ""))
    admin = claims["identity"].get("role") == "admin"
    store, found = backend.store_for(request, user, key, admin)
    worker = request.headers.get("x-clearml-worker") or request.headers.get("x-trains-worker")
    return Call(user=user, store=store, body=Body({}), key=key, admin=admin,
                records=backend.model_records(user), worker=(worker or "").strip(),
                lease_s=backend.lease_s, runs_tasks=found.agent and not found.admin,
                runner_store=lambda task_id: backend.runner_store(request, found, task_id))
