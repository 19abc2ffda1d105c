"""Servers shared by the server tests: real subprocesses on SQLite or PostgreSQL.

``server`` is the session's shared SQLite server (``tests/conftest.py``) or one PostgreSQL
server for the whole session. The tests that use it create uniquely named users and their
own tasks and look at nothing global; tests that restart the server, configure it, read its
log or fuzz it (bootstrap, body limits, schemathesis) start their own with
``running_server``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_ADMIN_URL
from tests.helpers.server import ServerProcess, running_server


def fresh_pg_database() -> tuple[str, object]:
    """A new PostgreSQL database: its URL and a callable that drops it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"th_srv_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def shared_pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server on a fresh PostgreSQL database for the whole session."""
    home: Path = tmp_path_factory.mktemp("pg-server") / "home"
    url, drop = fresh_pg_database()
    try:
        with running_server(home, db_url=url) as proc:
            proc.shared = True
            yield proc
    finally:
        drop()  # type: ignore[operator]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """The session's server of each database kind."""
    name = "shared_pg_server" if request.param == "postgres" else "shared_server"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    """An httpx client on ``/api/v1`` authenticated as the admin."""
    with httpx.Client(base_url=f"{server.url}/api/v1", auth=(server.access_key, server.secret_key),
                      timeout=60) as client:
        yield client


@pytest.fixture
def anon(server: ServerProcess) -> Iterator[httpx.Client]:
    """An httpx client on ``/api/v1`` without credentials."""
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as client:
        yield client
