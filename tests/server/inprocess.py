"""The server app in this process, on a fake clock: for the tests of what takes time to
happen (throttle delays and lockouts, session timeouts), which move the clock instead of
sleeping, and skip a server subprocess's start.

:func:`inprocess_server` builds the real app (``create_app``) on a fresh database with
``settings`` and a :class:`~tests.helpers.clock.FakeClock`, behind uvicorn's proxy-headers
middleware as ``tunehouse server`` runs it (so ``X-Forwarded-For`` gives each test client
an address of its own), creates an admin with a key (passwords hashed with
:data:`~tests.helpers.accounts.FAST_HASHER`), and hands out Starlette test
clients (httpx over :class:`SyncASGITransport`). ``tests/server/test_brute_force.py`` keeps one test on a real server subprocess
to show the same settings wired through ``config.json`` and uvicorn.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tests.helpers.accounts import FAST_HASHER
from tests.helpers.clock import FakeClock
from tests.helpers.event_loop import run_async
from tunehouse.server.accounts import open_accounts
from tunehouse.server.app import create_app
from tunehouse.settings import Settings
from tunehouse.store.interfaces.users import PasswordHasher
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.accounts import SqlAccountStore

BASE_URL = "http://testserver"


class SyncASGITransport(httpx.BaseTransport):
    """httpx's ASGI transport for a synchronous client: each request runs the app in an
    event loop of its own, on a thread of its own (the app's blocking work goes to that
    loop's worker threads, as under uvicorn), so clients in several threads send requests
    at once, and a worker whose main thread runs Playwright's loop can send them too."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers,
                                  content=content, request=request)

        return run_async(send)


@dataclass
class InProcessServer:
    """The app, its store and accounts, its clock and the admin's credentials."""

    app: Any
    store: SqlStore
    accounts: SqlAccountStore
    clock: FakeClock
    home: Path
    db_url: str
    admin_password: str
    access_key: str
    secret_key: str

    def client(self, auth: tuple[str, str] | None = None, address: str | None = None,
               base: str = "", **headers: str) -> httpx.Client:
        """A client of the app (of ``BASE_URL + base``) from ``address`` (default: one
        of its own)."""
        headers = {"X-Forwarded-For": address or new_address(), **headers}
        return httpx.Client(transport=SyncASGITransport(self.app), base_url=BASE_URL + base,
                            headers=headers, auth=auth, timeout=60)

    def admin(self) -> httpx.Client:
        """A client of ``/api/v1`` with the admin's key."""
        return self.client(auth=(self.access_key, self.secret_key), base="/api/v1")


def new_address() -> str:
    """A client address nobody else uses."""
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


@contextmanager
def inprocess_server(db_url: str, home: Path, hasher: PasswordHasher = FAST_HASHER,
                     **settings: Any) -> Iterator[InProcessServer]:
    """The app on ``db_url`` with ``settings`` (by name, as in ``config.json``), its
    passwords hashed by ``hasher``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.json").write_text(json.dumps(settings))
    clock = FakeClock()
    with SqlStore(db_url, home / "artifacts", user="server") as store:
        accounts = open_accounts(store, clock=clock, hasher=hasher)
        password = "admin-" + uuid.uuid4().hex
        accounts.users.create_user("admin", password, admin=True)
        key = accounts.keys.create_api_key("admin")
        app = create_app(Settings.from_env(env={}, home=home), store=store,
                         accounts=accounts.with_user("server"))
        yield InProcessServer(ProxyHeadersMiddleware(app, trusted_hosts="*"), store,
                              accounts, clock, home, db_url, password, key.access_key,
                              key.secret_key)
