"""Servers shared by the server tests: real subprocesses on SQLite or PostgreSQL.

``server`` is the session's shared SQLite server (``tests/conftest.py``) or one PostgreSQL
server for the whole session. The tests that use it create uniquely named users and their
own tasks and look at nothing global; tests that restart the server, configure it, read its
log or fuzz it (bootstrap, body limits, schemathesis) start their own with
``running_server``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.databases import (
    create_pg_database,
    drop_pg_database,
    pg_database_url,
    pg_template,
)
from tests.helpers.server import ServerProcess, running_server


def fresh_pg_database(migrated: bool = True) -> tuple[str, Callable[[], None]]:
    """A new PostgreSQL database (with the schema, copied from the template, unless
    ``migrated`` is False): its URL and a callable that drops it."""
    name = create_pg_database(template=pg_template() if migrated else None, prefix="th_srv")
    return pg_database_url(name), lambda: drop_pg_database(name)


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
        drop()


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
