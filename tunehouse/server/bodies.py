"""Request bodies: the server's size limit, and one bound on the large bodies handled at once.

:class:`BodyLimitMiddleware` stands in front of every route that takes a body:

* a body over ``TUNEHOUSE_MAX_REQUEST_MB`` is answered 413 naming the limit, whether it
  declares its ``Content-Length`` or comes chunked (counted as it streams in);
* a body over :data:`LARGE_BODY_BYTES` (by its ``Content-Length``, or once that many bytes
  of a chunked one have come) is *large*: its credentials are checked before any more of
  it is read (401 or 429 at once, so a client without valid ones cannot hold a slot), then
  it waits for one of the app's :class:`LargeBodySlots` and holds it while the route reads,
  parses and stores it and answers. Event batches, parameters, configurations, scripts and
  anything else the size limit admits share the same slots; a waiting request holds at
  most :data:`LARGE_BODY_BYTES` of its body (uvicorn stops reading a socket whose body is
  not being received). What a large body leaves in memory is handed back before the next
  one starts: the database connections it wrote with are closed, not pooled, and glibc's
  allocator returns its free pages (:func:`release_free_memory`).

A large body for a route that parses it whole (everything but event batches and
parameter lists, which are parsed in chunks: :mod:`tunehouse.server.json_stream`) is also
read here first, its JSON values counted as it comes (ijson's C tokenizer, about 1 s for
60 MiB of the smallest values): over :data:`MAX_JSON_VALUES` it is answered 413, since a
body of tiny containers (``[[],[],...]``) would cost some 20 times its size once parsed.

Blob uploads stream to disk: they are neither limited nor slotted.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import ijson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunehouse.contract import route
from tunehouse.errors import PayloadTooLarge, TunehouseError
from tunehouse.server.auth import authenticate
from tunehouse.server.errors import error_response, tunehouse_error_response
from tunehouse.store.engine import single_use_connections

#: A request body over this many bytes is large: it needs one of the app's
#: :class:`LargeBodySlots`, and event batches and parameter lists this size are parsed
#: incrementally (:mod:`tunehouse.server.json_stream`).
LARGE_BODY_BYTES = 4 << 20
#: Large bodies read and handled at the same time, at most: two on PostgreSQL; one on
#: SQLite, whose writers take turns anyway (a second one would only wait for the lock, and
#: on a loaded machine could wait past SQLite's busy timeout: a 503).
MAX_LARGE_BODIES = 2
MAX_LARGE_BODIES_SQLITE = 1

#: JSON values (every scalar, key, array and object counts) a large body that is parsed
#: whole may hold: a million costs about 100 MiB once parsed.
MAX_JSON_VALUES = 1_000_000
#: The operations whose large bodies are parsed in chunks, not whole.
CHUNK_PARSED_OPERATIONS = ("events.add_events", "tasks.set_parameters")

_NO_BODY_METHODS = ("GET", "HEAD", "OPTIONS", "DELETE")


def chunk_parsed_paths(prefix: str) -> re.Pattern[str]:
    """The request paths (under ``prefix``) of :data:`CHUNK_PARSED_OPERATIONS`."""
    paths = [re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(prefix + route(name).path))
             for name in CHUNK_PARSED_OPERATIONS]
    return re.compile("(?:" + "|".join(paths) + r")\Z")


class JsonValueCounter:
    """Counts the JSON values of a body fed to it in pieces (:meth:`feed`); stops counting
    at the first syntax error (the route that parses the body says what it is)."""

    def __init__(self) -> None:
        self.count = 0
        self._events = ijson.sendable_list()
        self._parser: Any = ijson.get_backend("yajl2_c").basic_parse_coro(self._events)

    def feed(self, chunk: bytes) -> None:
        if self._parser is None or not chunk:
            return
        try:
            self._parser.send(chunk)
        except ijson.JSONError:
            self._parser = None
        self.count += len(self._events)
        del self._events[:]


def _find_malloc_trim() -> Callable[[int], Any] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (AttributeError, OSError):  # not glibc
        return None


_MALLOC_TRIM = _find_malloc_trim()


def release_free_memory() -> None:
    """Hand the memory glibc's allocator keeps free back to the system (``malloc_trim``):
    after a large body, the parsed objects are gone but their pages would stay with the
    process (in the arenas of the threads that stored it). Nothing where malloc is not
    glibc's."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class LargeBodySlots:
    """At most ``count`` large request bodies read, parsed, stored and answered at once;
    the others wait their turn, as long as it takes (their clients' timeouts bound the
    wait). ``held`` and ``waiting`` count the requests in each state."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.held = 0
        self.waiting = 0
        self._semaphore = anyio.Semaphore(count)

    @classmethod
    def for_database(cls, is_postgres: bool) -> LargeBodySlots:
        """The slots of a server on PostgreSQL or on SQLite."""
        return cls(MAX_LARGE_BODIES if is_postgres else MAX_LARGE_BODIES_SQLITE)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a slot and hold it for the block; the store's write transactions
        within close their connections after use (:func:`single_use_connections`), and
        before the slot is free again the allocator's free memory goes back to the
        system."""
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.held += 1
        try:
            with single_use_connections():
                yield
        finally:
            try:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(release_free_memory)
            finally:
                self.held -= 1
                self._semaphore.release()


class BodyLimitMiddleware:
    """Answer 413 to request bodies over ``max_bytes`` and hold every body over
    :data:`LARGE_BODY_BYTES` to one of ``slots`` (see the module's docstring).

    A body without ``Content-Length`` (chunked) is read here, counting bytes, and then
    replayed to the app. Paths starting with one of ``streaming_prefixes`` (blob uploads,
    which stream to disk) are let through untouched.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streaming_prefixes: tuple[str, ...],
                 slots: LargeBodySlots, chunk_parsed: re.Pattern[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streaming_prefixes = streaming_prefixes
        self.slots = slots
        self.chunk_parsed = chunk_parsed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY_METHODS \
                or scope["path"].startswith(self.streaming_prefixes):
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            if length > self.max_bytes:
                await self._too_large(scope, receive, send)
            elif length <= LARGE_BODY_BYTES:
                await self.app(scope, receive, send)
            elif await self._admitted(scope, receive, send):
                async with self.slots.slot():
                    if self.chunk_parsed.match(scope["path"]):
                        await self.app(scope, receive, send)
                    else:
                        await self._counted(scope, receive, send, [], None)
            return
        chunks: list[bytes] = []
        ended, total = await _read_body(receive, chunks, min(LARGE_BODY_BYTES, self.max_bytes))
        if total > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        if total <= LARGE_BODY_BYTES:
            await self.app(scope, _replay(chunks, ended, receive), send)
            return
        if not await self._admitted(scope, receive, send):
            return
        async with self.slots.slot():
            if not self.chunk_parsed.match(scope["path"]):
                await self._counted(scope, receive, send, chunks, ended)
                return
            if ended is None:
                ended, total = await _read_body(receive, chunks, self.max_bytes)
            if total > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, _replay(chunks, ended, receive), send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, chunks: list[bytes],
                       ended: Message | None) -> None:
        """Read the rest of a large body (``chunks``: what was read of it), counting its
        JSON values; 413 when there are too many or it is too large, else the app gets it."""
        counter = JsonValueCounter()
        for chunk in chunks:
            counter.feed(chunk)
        if ended is None:
            ended, total = await _read_body(receive, chunks, self.max_bytes, counter)
            if total > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        if counter.count > MAX_JSON_VALUES:
            exc = PayloadTooLarge(
                f"request body holds more than {MAX_JSON_VALUES:,} JSON values ({counter.count:,}"
                f"), the most a body over {LARGE_BODY_BYTES >> 20} MiB may hold here",
                detail={"max_json_values": MAX_JSON_VALUES})
            await error_response(exc, headers={"Connection": "close"})(scope, receive, send)
            return
        await self.app(scope, _replay(chunks, ended, receive), send)

    async def _admitted(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Whether the request's credentials are good; else it was answered (401, 429)."""
        try:
            await anyio.to_thread.run_sync(authenticate, Request(scope))
        except TunehouseError as exc:
            response = tunehouse_error_response(exc)
            response.headers["Connection"] = "close"  # the rest of the body goes unread
            await response(scope, receive, send)
            return False
        return True

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit_mb = self.max_bytes / (1024 * 1024)
        exc = PayloadTooLarge(f"request body is over the server's limit of {limit_mb:g} MiB",
                              detail={"max_bytes": self.max_bytes})
        response = error_response(exc, headers={"Connection": "close"})
        await response(scope, receive, send)


async def _read_body(receive: Receive, chunks: list[bytes], limit: int,
                     counter: JsonValueCounter | None = None) -> tuple[Message | None, int]:
    """Receive more of a body into ``chunks`` (fed to ``counter`` too) until it ends or
    passes ``limit`` bytes in all; the last message when it ended (a request, or a
    disconnect), else None, and the bytes read so far."""
    total = sum(len(chunk) for chunk in chunks)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message, total
        body = message.get("body", b"")
        chunks.append(body)
        if counter is not None:
            counter.feed(body)
        total += len(body)
        if not message.get("more_body", False):
            return message, total
        if total > limit:
            return None, total


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body read (``last``: the message it ended
    with) in one message, or the disconnect it ended with, then goes on with the real
    ``receive``."""
    assert last is not None, "the body was read to its end"
    if last["type"] == "http.request":
        pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks),
                                   "more_body": False}]
    else:
        pending = [last]
    chunks.clear()  # the joined copy is all the app needs

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
