"""The one place where the server turns exceptions into HTTP responses.

Every error body has the shape ``{"error": {"code": ..., "message": ..., "detail": ...}}``:

* :class:`~tunehouse.errors.TunehouseError` -> its ``status`` with ``exc.to_dict()``
  (a 429 :class:`~tunehouse.errors.TooManyAttempts` with ``Retry-After``);
* request validation errors (FastAPI's and pydantic's) -> 422 naming the field(s);
* Starlette HTTP errors (unknown route, wrong method) -> their status;
* numbers the database cannot store (``OverflowError``, SQLAlchemy ``DataError``) -> 422;
* anything else -> 500 ``internal server error``; the traceback goes to the server log only.

A request for a web page (not under the API prefix, accepting ``text/html``) gets the
same answer rendered as a page by the UI's ``html_page`` hook (:func:`install_error_handlers`).

The body limit (413) and the bound on large bodies (:mod:`tunehouse.server.bodies`) answer
through :func:`error_response` and :func:`tunehouse_error_response` too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunehouse.contract import API_PREFIX
from tunehouse.errors import InvalidInput, TooManyAttempts, TunehouseError
from tunehouse.store.failures import storage_error

log = logging.getLogger("tunehouse.server")

_HTTP_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class OrjsonResponse(Response):
    """JSON response rendered with orjson (records are dumped by pydantic's own serializer)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_response(exc: TunehouseError, headers: dict[str, str] | None = None) -> Response:
    """The response for a tunehouse error."""
    return OrjsonResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def _format_loc(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_error(errors: Sequence[Any], prefix: Sequence[str] = ()) -> InvalidInput:
    """An :class:`InvalidInput` naming every failing field of a pydantic/FastAPI error list."""
    detail = []
    for err in errors:
        loc = [*prefix, *err.get("loc", ())]
        detail.append({"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "")})
    parts = [f"{_format_loc(d['loc']) or 'body'}: {d['msg']}" for d in detail[:10]]
    more = f" (and {len(detail) - 10} more)" if len(detail) > 10 else ""
    return InvalidInput("invalid request: " + "; ".join(parts) + more, detail=detail)


def tunehouse_error_response(exc: TunehouseError) -> Response:
    """The response for a tunehouse error, with ``WWW-Authenticate`` on a 401 and
    ``Retry-After`` on a 429 that knows when to try again."""
    headers = {"WWW-Authenticate": 'Basic realm="tunehouse"'} if exc.status == 401 else None
    if isinstance(exc, TooManyAttempts) and exc.retry_after is not None:
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc, headers)


async def _tunehouse_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TunehouseError)
    return tunehouse_error_response(exc)


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_error(exc.errors()))


async def _pydantic_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return error_response(validation_error(exc.errors(include_input=False)))


async def _out_of_range(request: Request, exc: Exception) -> Response:
    # An integer beyond 64 bits (sqlite3 raises OverflowError) or a value PostgreSQL
    # cannot store (DataError): bad input that slipped past validation.
    return error_response(InvalidInput(
        "a number in the request is outside the range the database can store",
        detail={"error": type(exc).__name__}))


def _unparsable_body(exc: StarletteHTTPException) -> InvalidInput | None:
    """FastAPI answers 400 "error parsing the body" when decoding fails before JSON parsing
    does (a body that is not UTF-8, JSON nested too deeply): the documented answer to a
    bad body is 422 naming the problem."""
    if exc.status_code != 400 or "parsing the body" not in str(exc.detail):
        return None
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        problem = f"the body is not valid UTF-8 (byte {cause.start}: {cause.reason})"
    elif isinstance(cause, RecursionError):
        problem = "the JSON body is nested too deeply"
    else:
        problem = "the body is not valid JSON"
    return InvalidInput(f"invalid request: body: {problem}",
                        detail=[{"loc": ["body"], "msg": problem, "type": "json_invalid"}])


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    unparsable = _unparsable_body(exc)
    if unparsable is not None:
        return error_response(unparsable)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    body = {"error": {"code": code, "message": str(exc.detail)}}
    return OrjsonResponse(body, status_code=exc.status_code, headers=exc.headers)


class InternalErrorMiddleware:
    """Answer 500 to any exception no handler took, log its traceback, and keep the
    connection: re-raising (as Starlette's outermost middleware does) would make uvicorn
    drop a keep-alive connection without ``Connection: close``, so the client's next
    request on it would fail with "connection reset". When the response had already
    started (a streamed download) nothing can be sent: the exception goes on and the
    connection is closed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            log.exception("internal error in %s %s", scope.get("method"), scope.get("path"))
            response = error_response_for_unexpected(exc)
            await response(scope, receive, send)


def error_response_for_unexpected(exc: Exception) -> Response:
    """The answer to an exception no handler took: storage trouble is named (507 when the
    disk is full, 503 when storage is read-only or unwritable), anything else is a plain 500
    whose details stay in the server log."""
    storage = storage_error(exc)
    if storage is not None:
        return error_response(storage)
    body = {"error": {"code": "internal", "message": "internal server error"}}
    return OrjsonResponse(body, status_code=500)


Handler = Callable[[Request, Exception], Awaitable[Response]]
#: Renders an error answer (a JSON error response) as a web page.
HtmlPage = Callable[[Request, Response], Response]


def wants_html(request: Request) -> bool:
    """Whether ``request`` asks for a web page rather than the JSON API."""
    return (not request.url.path.startswith(API_PREFIX)
            and "text/html" in request.headers.get("accept", ""))


def install_error_handlers(app: FastAPI, html_page: HtmlPage | None = None) -> None:
    """Register the error renderers on ``app``; with ``html_page``, requests for web pages
    get the error as a page (see :func:`wants_html`)."""

    def serve(convert: Handler) -> Handler:
        async def handle(request: Request, exc: Exception) -> Response:
            response = await convert(request, exc)
            if html_page is not None and wants_html(request):
                return html_page(request, response)
            return response
        return handle

    app.add_exception_handler(TunehouseError, serve(_tunehouse_error))
    app.add_exception_handler(RequestValidationError, serve(_request_validation_error))
    app.add_exception_handler(ValidationError, serve(_pydantic_validation_error))
    app.add_exception_handler(StarletteHTTPException, serve(_http_error))
    app.add_exception_handler(OverflowError, serve(_out_of_range))
    app.add_exception_handler(DataError, serve(_out_of_range))
