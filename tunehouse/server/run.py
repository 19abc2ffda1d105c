"""Starting the server: schema, first-start bootstrap, then uvicorn with one worker.

One uvicorn worker per process, and ``TCP_NODELAY`` set on every accepted connection:
with Nagle's algorithm on, each keep-alive request can wait ~40 ms for a delayed ACK
(uvicorn issue #3149). Scale out with several processes behind a load balancer instead.
"""

from __future__ import annotations

import gc
import logging
import socket
import sys
from typing import Any

import uvicorn

from tunehouse.settings import Settings

log = logging.getLogger("tunehouse.server")


def _no_delay_protocol() -> type[Any]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # pragma: no cover - httptools missing
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]

    class NoDelayProtocol(Base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)

    return NoDelayProtocol


def server_url(settings: Settings) -> str:
    """The URL clients on this machine use to reach the server."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def serve(settings: Settings, access_log: bool = False, log_level: str = "info") -> None:
    """Open (or create) the database, bootstrap the admin on first start, and serve."""
    from tunehouse.server.accounts import open_accounts
    from tunehouse.server.app import create_app
    from tunehouse.server.bootstrap import bootstrap_admin
    from tunehouse.store.sql import SqlStore

    store = SqlStore.from_settings(settings, user="server")
    url = server_url(settings)
    written = bootstrap_admin(open_accounts(store), settings.home, url)
    if written is not None:
        print(f"First start: created user 'admin'; its password and API key are in {written}",
              file=sys.stderr, flush=True)
    app = create_app(settings, store=store)
    # Event batches allocate ~10^4 short-lived objects per request: keep the start-up
    # objects out of the collector's scans and let young generations grow larger.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, workers=1, http=_no_delay_protocol(),
        access_log=access_log, log_level=log_level, server_header=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
