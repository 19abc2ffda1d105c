"""The HTTP transport of the client: one keep-alive ``httpx.Client`` per server, requests
built from :mod:`tunehouse.contract`, and error bodies turned back into exceptions.

Error bodies become their :mod:`tunehouse.errors` class with
:func:`~tunehouse.errors.error_class_for`; connection errors, timeouts and 5xx answers
become :class:`~tunehouse.errors.ServerUnavailable`. A 429 (too many failed sign-ins or
key checks) becomes :class:`~tunehouse.errors.TooManyAttempts` with its ``retry_after``
and is never sent again by the client: only a dropped connection is, and only for
operations that are harmless to repeat (a sign-in is not one).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, TypeAdapter

from tunehouse.contract import (
    ACT_AS_HEADER,
    API_PREFIX,
    FENCE_HEADER,
    IDEMPOTENT_OPERATIONS,
    route,
)
from tunehouse.errors import (
    SchemaOutOfDate,
    ServerUnavailable,
    StorageUnavailable,
    TooManyAttempts,
    TunehouseError,
    error_class_for,
)
from tunehouse.settings import normalize_server_url

BLOB_CHUNK = 1 << 20
#: Transport errors of a connection the server dropped before answering.
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
log = logging.getLogger("tunehouse.client")

_adapters: dict[Any, TypeAdapter[Any]] = {}


def adapter(kind: Any) -> TypeAdapter[Any]:
    """A cached pydantic adapter that parses JSON into ``kind``."""
    found = _adapters.get(kind)
    if found is None:
        found = _adapters[kind] = TypeAdapter(kind)
    return found


def basic_auth(access_key: str, secret_key: str) -> str:
    """The ``Authorization`` header value of an API key."""
    token = base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()
    return f"Basic {token}"


def raise_for_response(response: httpx.Response, url: str) -> None:
    """Raise the tunehouse error an error response carries (nothing for 1xx-3xx)."""
    status = response.status_code
    if status < 400:
        return
    code, message, detail = "", "", None
    try:
        error = orjson.loads(response.content)["error"]
        code, message, detail = str(error["code"]), str(error["message"]), error.get("detail")
    except (ValueError, KeyError, TypeError):
        message = response.text[:300] or response.reason_phrase
    if status >= 500 and code != SchemaOutOfDate.code:
        raise ServerUnavailable(f"the tunehouse server at {url} failed ({status}): {message}",
                                detail={"status": status, "code": code})
    cls = error_class_for(code, status)
    if issubclass(cls, TooManyAttempts):
        raise cls(message or f"HTTP {status}", detail, retry_after=_retry_after(response))
    raise cls(message or f"HTTP {status}", detail)


def _retry_after(response: httpx.Response) -> int | None:
    """The whole seconds of a ``Retry-After`` header (None: absent or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    return int(value) if value.isdigit() else None


def probe_server(url: str, timeout: float = 3.0, hint: str = "TUNEHOUSE_SERVER") -> None:
    """Check that a tunehouse server answers at ``url`` (``GET /api/v1/health``, no key).

    Raises:
        ServerUnavailable: nothing answers within ``timeout`` seconds, the connection fails,
            or what answers is not a tunehouse server; the message ends with ``(check
            <hint>)``, the setting that names the URL.
    """
    url = normalize_server_url(url)
    health = url + API_PREFIX + route("server.health").url()
    try:
        response = httpx.get(health, timeout=timeout, verify=not url.startswith("http://"))
    except httpx.TimeoutException:
        raise ServerUnavailable(f"cannot reach the tunehouse server at {url}: no answer "
                                f"within {timeout:g} s (check {hint})") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ServerUnavailable(f"cannot reach the tunehouse server at {url}: "
                                f"{describe_transport_error(exc)} (check {hint})") from None
    try:
        body = orjson.loads(response.content)
    except ValueError:
        body = None
    if response.status_code == 404 or not (isinstance(body, dict) and "version" in body):
        raise ServerUnavailable(f"{url} answers, but not as a tunehouse server (GET "
                                f"{API_PREFIX}/health: HTTP {response.status_code}; check {hint})")


def describe_transport_error(exc: Exception) -> str:
    """A short reason for a failed connection: ``connection refused``, ``name or service
    not known``... (the exception's text without its ``[Errno N]``)."""
    text = str(exc).strip() or type(exc).__name__
    if text.startswith("[Errno") and "] " in text:
        text = text.split("] ", 1)[1]
    return text[:1].lower() + text[1:]


class Connection:
    """The shared HTTP client of a server: thread-safe, keep-alive, one per store and all
    its views."""

    def __init__(self, url: str, access_key: str, secret_key: str, timeout: float) -> None:
        self.url = normalize_server_url(url)
        self.client = httpx.Client(
            base_url=self.url + API_PREFIX,
            headers={"Authorization": basic_auth(access_key, secret_key),
                     "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            # plain http needs no CA bundle (loading it costs ~50 ms of every Task.init)
            transport=httpx.HTTPTransport(retries=1, verify=not self.url.startswith("http://")),
        )

    def close(self) -> None:
        self.client.close()

    def unreachable(self, exc: Exception) -> ServerUnavailable:
        if isinstance(exc, httpx.TimeoutException):
            return ServerUnavailable(f"the tunehouse server at {self.url} did not answer in time "
                                     f"({type(exc).__name__})")
        return ServerUnavailable(f"cannot reach the tunehouse server at {self.url}: {exc}")


class Caller:
    """Calls operations of :data:`tunehouse.contract.ROUTES` on a connection, acting as
    the key's user or, with ``act_as``, as another user (``X-Tunehouse-User``); with
    ``fence`` (task id, attempt) the server refuses its writes to that task once the
    attempt is over."""

    def __init__(self, conn: Connection, act_as: str | None = None,
                 fence: tuple[str, int] | None = None) -> None:
        self.conn = conn
        self.act_as = act_as
        self.fence = fence

    def identity_headers(self) -> dict[str, str]:
        """The act-as and fence headers every request of this caller carries."""
        headers: dict[str, str] = {}
        if self.act_as is not None:
            headers[ACT_AS_HEADER] = self.act_as
        if self.fence is not None:
            headers[FENCE_HEADER] = f"{self.fence[0]}:{self.fence[1]}"
        return headers

    def send(self, operation: str, *, path: dict[str, Any] | None = None, body: Any = None,
             params: dict[str, Any] | None = None, content: Any = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """Send one request of ``operation``; raises the error an error answer carries."""
        spec = route(operation)
        all_headers = {**(headers or {}), **self.identity_headers()}
        if body is not None:
            if isinstance(body, BaseModel):
                content = body.model_dump_json()
            elif isinstance(body, list) and body and isinstance(body[0], BaseModel):
                content = adapter(list[type(body[0])]).dump_json(body)  # type: ignore[misc]
            else:
                content = orjson.dumps(body)
            all_headers["Content-Type"] = "application/json"
        query = {name: value for name, value in (params or {}).items() if value is not None}
        resendable = ((spec.idempotent or operation in IDEMPOTENT_OPERATIONS)
                      and (content is None or isinstance(content, bytes | str)))
        url = spec.url(**(path or {}))
        try:
            try:
                response = self.conn.client.request(spec.method, url, params=query,
                                                    content=content, headers=all_headers)
            except _DROPPED as exc:
                # A kept-alive connection the server closed (idle timeout, restart, a
                # failed request): send once more on a fresh connection when harmless.
                if not resendable:
                    raise
                log.debug("resending %s after a dropped connection: %s", operation, exc)
                response = self.conn.client.request(spec.method, url, params=query,
                                                    content=content, headers=all_headers)
        except httpx.TransportError as exc:
            raise self.conn.unreachable(exc) from exc
        raise_for_response(response, self.conn.url)
        return response

    def call(self, kind: Any, operation: str, *, path: dict[str, Any] | None = None,
             body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Send ``operation`` and parse the answer as ``kind``. Requests with a body
        (POST, PUT, PATCH) send ``{}`` when ``body`` is None."""
        if body is None and route(operation).method in ("POST", "PUT", "PATCH"):
            body = {}
        response = self.send(operation, path=path, body=body, params=params)
        return adapter(kind).validate_json(response.content)

    def stream(self, operation: str, *, path: dict[str, Any]) -> Iterator[bytes]:
        """The body of a GET answer in chunks, streamed (errors raise before the first).
        A redirect (a blob in object storage: its presigned URL) is followed without
        this connection's credentials (:func:`stream_url`)."""
        spec = route(operation)
        request = self.conn.client.build_request(spec.method, spec.url(**path),
                                                 headers=self.identity_headers())
        try:
            response = self.conn.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self.conn.unreachable(exc) from exc
        if response.status_code >= 400:
            try:
                response.read()
            finally:
                response.close()
            raise_for_response(response, self.conn.url)
        if response.is_redirect:
            response.close()
            return stream_url(response.headers["location"])
        return _chunks(response, self.conn.unreachable)


def direct_client() -> httpx.Client:
    """An HTTP client for presigned URLs of the object storage: no credentials of ours
    (the URL carries its signature), generous timeouts for large bodies."""
    return httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0),
                        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16))


def storage_failure(what: str, exc: Exception | httpx.Response) -> StorageUnavailable:
    """The error of a failed request to the object storage."""
    if isinstance(exc, httpx.Response):
        return StorageUnavailable(f"{what}: the object storage answered HTTP "
                                  f"{exc.status_code}: {exc.text[:300]}")
    return StorageUnavailable(f"{what}: {describe_transport_error(exc)}")


def stream_url(url: str) -> Iterator[bytes]:
    """The body of a GET of a presigned URL in chunks (errors raise before the first)."""
    client = direct_client()
    try:
        response = client.send(client.build_request("GET", url), stream=True)
    except httpx.TransportError as exc:
        client.close()
        raise storage_failure("downloading a blob", exc) from exc
    if response.status_code >= 400:
        response.read()
        response.close()
        client.close()
        raise storage_failure("downloading a blob", response)

    def failed(exc: Exception) -> StorageUnavailable:
        return storage_failure("downloading a blob", exc)

    def chunks() -> Iterator[bytes]:
        try:
            yield from _chunks(response, failed)
        finally:
            client.close()

    return chunks()


def _chunks(response: httpx.Response,
            failed: Callable[[Exception], TunehouseError]) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes(BLOB_CHUNK)
    except httpx.TransportError as exc:
        raise failed(exc) from exc
    finally:
        response.close()
