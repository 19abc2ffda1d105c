"""The ``store`` fixture: one Store per backend the contract suite runs against.

``sqlite`` and ``postgres`` are :class:`SqlStore` on a fresh database per test, copied
from a template that already has the schema. ``http`` is :class:`HttpStore`
talking to a real ``tunehouse server`` subprocess; starting one costs seconds, so the
session's shared server (``tests/conftest.py``) serves them all and tests keep apart by
giving every project, queue, model, worker and user a unique name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess
from tunehouse.store.base import Store

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    "http",
]


@pytest.fixture
def http_server(shared_server: ServerProcess) -> ServerProcess:
    """The server behind the ``http`` backend: the session's shared one."""
    return shared_server


@pytest.fixture(params=BACKENDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if store_kind == "http":
        from tunehouse.client.http import HttpStore

        server = request.getfixturevalue("http_server")
        backend: Store = HttpStore(server.url, server.access_key, server.secret_key)
    else:
        from tunehouse.store.sql import SqlStore

        url = request.getfixturevalue(f"{store_kind}_schema_url".replace("postgres", "pg"))
        backend = SqlStore(url, tmp_path / "artifacts", user="tester")
    try:
        yield backend
    finally:
        backend.close()
