"""Fixtures shared by every test group: data directories, real databases, a real server.

PostgreSQL is the server at ``TUNEHOUSE_TEST_PG`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); every database a test session
creates there has a random name and is dropped at the end, so parallel runs never see
each other's rows. ``pg_url`` is an empty database per test; ``pg_schema_url`` is a
database per test that already has the schema: it is copied (``CREATE DATABASE ...
TEMPLATE``) from a template database the session migrates once.

``shared_server`` is one ``tunehouse server`` (SQLite) for the whole session. Tests that
only need *a* server and keep to records they create (unique names, their own task ids)
use it; tests that kill or restart the server, configure it, look at its log or
credentials file, or assert on global state (all users, counts without a project filter,
version numbers of a fixed model name, bootstrap) start their own with ``running_server``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess, running_server

PG_ADMIN_URL = os.environ.get(
    "TUNEHOUSE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty TUNEHOUSE_HOME for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tunehouse.db'}"


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session (dropped afterwards)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"th_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not usable: {exc}")
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _create_database(name: str, template: str | None = None) -> None:
    from sqlalchemy import text

    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    finally:
        admin.dispose()


def _drop_database(name: str) -> None:
    from sqlalchemy import text

    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """An EMPTY PostgreSQL database for one test (no tables: migration tests need that)."""
    name = f"th_t_{uuid.uuid4().hex[:12]}"
    _create_database(name)
    yield _database_url(name)
    _drop_database(name)


@pytest.fixture(scope="session")
def pg_schema_template(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
                       ) -> Iterator[str]:
    """The name of a database with the current schema, migrated once per session.

    Nothing stays connected to it (``CREATE DATABASE ... TEMPLATE`` requires that).
    """
    from tunehouse.store.sql import SqlStore

    name = f"th_tmpl_{uuid.uuid4().hex[:12]}"
    _create_database(name)
    try:
        store = SqlStore(_database_url(name), tmp_path_factory.mktemp("pg-template-artifacts"))
        store.close()  # disposes the engine: no connection is left open
        yield name
    finally:
        _drop_database(name)


class _TemplateCopies:
    """Databases copied from the template, one made ahead in a background thread.

    A copy takes about a third of a second (PostgreSQL writes it through its WAL); making
    the next one while a test runs hides most of that.
    """

    def __init__(self, template: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._template = template
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-pg-copy")
        self._next = self._pool.submit(self._create)

    def _create(self) -> str:
        name = f"th_t_{uuid.uuid4().hex[:12]}"
        _create_database(name, template=self._template)
        return name

    def take(self) -> str:
        """The name of a new database nobody else uses (drop it when done)."""
        name = self._next.result()
        self._next = self._pool.submit(self._create)
        return name

    def close(self) -> None:
        try:
            _drop_database(self._next.result())
        finally:
            self._pool.shutdown()


@pytest.fixture(scope="session")
def _pg_template_copies(pg_schema_template: str) -> Iterator[_TemplateCopies]:
    copies = _TemplateCopies(pg_schema_template)
    try:
        yield copies
    finally:
        copies.close()  # before pg_schema_template drops the template


@pytest.fixture
def pg_schema_url(_pg_template_copies: _TemplateCopies) -> Iterator[str]:
    """A PostgreSQL database for one test with the schema already there (no rows)."""
    name = _pg_template_copies.take()
    yield _database_url(name)
    _drop_database(name)


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server (SQLite) for the whole session; see the module docstring for who
    may use it. It refuses ``kill()`` and ``restart()``."""
    with running_server(tmp_path_factory.mktemp("shared-server") / "home") as server:
        server.shared = True
        yield server
