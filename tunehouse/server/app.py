"""The tracking server's ASGI application.

The app is stateless apart from its connection pool: every request authenticates
against the database, so any number of server processes can share one PostgreSQL
database (and one data directory for artifacts and the session secret).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tunehouse.contract import (
    API_PREFIX,
    PUBLIC_OPERATIONS,
    SESSION_COOKIE,
    STREAMING_OPERATIONS,
    route,
)
from tunehouse.server.accounts import open_accounts
from tunehouse.server.api import build_router
from tunehouse.server.api._deps import EXTRA_SCHEMAS
from tunehouse.server.auth import SessionSigner, load_session_secret
from tunehouse.server.bodies import BodyLimitMiddleware, LargeBodySlots, chunk_parsed_paths
from tunehouse.server.clearml import CLEARML_PREFIX, mount_clearml
from tunehouse.server.errors import InternalErrorMiddleware, install_error_handlers
from tunehouse.server.ldap_auth import LdapSignIn
from tunehouse.server.permissions import Permissions
from tunehouse.server.sessions import Sessions
from tunehouse.server.throttle import Throttle
from tunehouse.server.ui import build_ui_router, html_page
from tunehouse.server.ui.assets import mount_static
from tunehouse.server.watchdog import Watchdog
from tunehouse.settings import Settings
from tunehouse.store.records import build_schemas
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.accounts import SqlAccountStore
from tunehouse.version import __version__

#: Threads for sync routes: an agent's claim holds one while it waits (long poll, a few
#: seconds), so a pool of anyio's default 40 would let 40 idle agents starve every request.
ROUTE_THREADS = 256


def create_app(settings: Settings, store: SqlStore | None = None,
               accounts: SqlAccountStore | None = None) -> FastAPI:
    """The server app for ``settings`` (``store`` defaults to the SQL store they name).

    ``accounts`` default to the store's with the server's password hashing and the real
    time; their clock is the time of sessions' timeouts and of the sign-in throttle's
    delays and lockouts (tests pass accounts on a fake clock). The store is closed when
    the app shuts down.
    """
    build_schemas()  # before FastAPI makes its adapters of the routes' models
    if store is None:
        store = SqlStore.from_settings(settings, user="server")
    opened = store
    watchdog = Watchdog(store, settings.task_lost_after_s,
                        lost_worker_retries=settings.worker_lost_retries)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # sync routes run in anyio's thread pool (40 threads by default); agents' claims
        # wait there for up to their long poll, so allow many more
        anyio.to_thread.current_default_thread_limiter().total_tokens = ROUTE_THREADS
        watchdog.start()
        yield
        watchdog.stop()
        opened.close()

    app = FastAPI(
        title="tunehouse",
        version=__version__,
        description="Experiment tracking and hyperparameter search: the JSON API.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served by the UI with local assets (tunehouse.server.ui.assets)
        redoc_url=None,
        lifespan=lifespan,
        # operationId = the contract's operation name (``tasks.get_task``)
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings
    app.state.store = store
    if accounts is None:
        accounts = open_accounts(store, user="server")
    app.state.accounts = accounts
    app.state.ldap = LdapSignIn.from_settings(settings)  # checks the settings
    app.state.permissions = Permissions(accounts, settings.default_project_role)
    session_secret = load_session_secret(settings.home)
    app.state.session_signer = SessionSigner(session_secret)
    app.state.sessions = Sessions(accounts.sessions, settings.session_max_s,
                                  settings.session_idle_s)
    app.state.throttle = Throttle.of(accounts, settings)
    app.state.large_bodies = LargeBodySlots.for_database(store.db.is_postgres)
    watchdog.add_cleanup("ended sessions", app.state.sessions.purge)
    watchdog.add_cleanup("stale sign-in counters", app.state.throttle.purge)
    install_error_handlers(app, html_page=html_page)
    app.include_router(build_router(), prefix=API_PREFIX)
    app.include_router(build_ui_router())
    max_bytes = settings.max_request_mb * 1024 * 1024
    # ClearML's API (tunehouse.compat)
    mount_clearml(app, session_secret, max_bytes, float(settings.clearml_lease_s))
    mount_static(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_bytes,
                       streaming_prefixes=(*(API_PREFIX + route(name).path
                                             for name in STREAMING_OPERATIONS), CLEARML_PREFIX),
                       slots=app.state.large_bodies, chunk_parsed=chunk_parsed_paths(API_PREFIX))
    app.add_middleware(InternalErrorMiddleware)  # outermost of ours: sees every exception
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the hand-parsed bodies' schemas and the security schemes."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in EXTRA_SCHEMAS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    components["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "basic",
                   "description": "access_key:secret_key of an API key"},
        "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
    }
    public = {API_PREFIX + route(name).path for name in PUBLIC_OPERATIONS}
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            if path not in public:
                operation["security"] = [{"apiKey": []}, {"session": []}]
                operation.setdefault("responses", {}).setdefault(
                    "401", {"description": "Missing or invalid credentials"})
    app.openapi_schema = doc
    return doc
