"""Engines for the SQL store: one per database URL and process.

* SQLite (``sqlite:///path``): every connection gets WAL, ``foreign_keys=ON``, a busy
  timeout and ``synchronous=NORMAL``. Transactions are begun explicitly: reads with
  ``BEGIN``, writes with ``BEGIN IMMEDIATE`` (see :func:`write_options`) so that two
  writers queue on the lock instead of failing when one upgrades a read snapshot.
* PostgreSQL through psycopg 3: ``postgresql://`` and ``postgres://`` are rewritten to
  ``postgresql+psycopg://``.

Within :func:`single_use_connections` the store's write transactions close their
connection afterwards instead of handing it back to the pool (the server's large request
bodies).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from tunehouse.errors import InvalidInput
from tunehouse.settings import ensure_private_dir

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "tunehouse_write"

_SINGLE_USE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "tunehouse_single_use_connections", default=False)

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def normalize_url(url: str) -> URL:
    """Parse ``url`` and pick the driver tunehouse uses for it.

    Raises:
        InvalidInput: the URL cannot be parsed or names an unsupported database.
    """
    text = str(url).strip()
    for prefix in ("postgres://", "postgresql://"):
        if text.startswith(prefix):
            text = "postgresql+psycopg://" + text[len(prefix):]
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise InvalidInput(f"invalid database URL {safe_url(text)!r}: {exc}") from exc
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise InvalidInput(
                "an in-memory SQLite database cannot be shared between connections; "
                "give a file path, e.g. sqlite:////path/to/tunehouse.db"
            )
        return parsed.set(drivername="sqlite")
    if parsed.drivername == "postgresql+psycopg":
        return parsed
    raise InvalidInput(
        f"unsupported database URL {safe_url(text)!r}: use sqlite:///<path> or "
        "postgresql://user@host/db"
    )


def safe_url(url: str | URL) -> str:
    """The URL with its password removed, for messages and commands."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<unparsable URL>"
    return parsed._replace(password=None).render_as_string(hide_password=False)


def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (created on first use).

    Raises:
        InvalidInput: bad or unsupported URL.
    """
    parsed = normalize_url(url)
    key = parsed.render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create(parsed)
            _engines[key] = engine
        return engine


def dispose_engine(engine: Engine) -> None:
    """Close the engine's pooled connections and forget it (a later open makes a new one)."""
    with _engines_lock:
        for key, cached in list(_engines.items()):
            if cached is engine:
                del _engines[key]
    engine.dispose()


def write_options() -> dict[str, Any]:
    """Execution options for a connection that will write (``BEGIN IMMEDIATE`` on SQLite)."""
    return {_WRITE_OPTION: True}


@contextlib.contextmanager
def single_use_connections() -> Iterator[None]:
    """Within the block (and the threads it starts with its context: ``to_thread``), a
    connection that wrote is closed afterwards rather than pooled: it would keep what a
    large write left in it as long as it lives. SQLite keeps the values last bound to
    each prepared statement until the statement runs again, libpq an output buffer as
    large as the largest message it sent: after eight 60 MiB configurations, 60 MiB in
    each pooled connection."""
    token = _SINGLE_USE.set(True)
    try:
        yield
    finally:
        _SINGLE_USE.reset(token)


def single_use() -> bool:
    """Whether the caller is within :func:`single_use_connections`."""
    return _SINGLE_USE.get()


def _create(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _create_sqlite(url)
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _create_private_file(path: Path) -> None:
    """Create a missing database file readable by its owner only (0600): it holds
    password and key hashes. SQLite gives its -wal and -shm files the same mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _create_sqlite(url: URL) -> Engine:
    assert url.database is not None
    path = Path(url.database).expanduser()
    ensure_private_dir(path.parent)
    _create_private_file(path)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
