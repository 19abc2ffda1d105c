"""Fixtures shared by every test group: data directories, real databases, a real server.

PostgreSQL is the server at ``TUNEHOUSE_TEST_PG`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); every database a test session
creates there has a random name and is dropped at the end, so parallel runs never see
each other's rows. ``pg_url`` and ``sqlite_url`` are empty databases per test (migration
tests need that); ``pg_schema_url`` and ``sqlite_schema_url`` are databases per test that
already have the schema: copies of a template migrated once per test process
(``tests/helpers/databases.py``).

``s3`` is an S3-compatible endpoint per test process: moto's server, or the store of
``TUNEHOUSE_TEST_S3`` (docs/testing.md).

``shared_server`` is one ``tunehouse server`` (SQLite) per test process (each xdist worker
has its own). Tests that only need *a* server and keep to records they create (unique
names, their own task ids) use it; tests that kill or restart the server, configure it,
look at its log or credentials file, or assert on global state (all users, counts without
a project filter, version numbers of a fixed model name, bootstrap) start their own with
``running_server``.

The suite runs in parallel (pytest-xdist, ``--dist loadgroup``, see ``scripts/test.sh``):
tests are spread over the workers one by one, except that the tests of a module that share
a module- or class-scoped fixture (a server of their own, a seeded database, a browser
store) are one group that runs on one worker, so the fixture is made once.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.browser import anonymous_page, browser, watch
from tests.helpers.databases import (
    PG_ADMIN_URL,
    SQLITE_FILE,
    copy_sqlite_template,
    create_pg_database,
    drop_pg_database,
    pg_database,
    pg_database_url,
    pg_template,
)
from tests.helpers.s3 import S3Target, s3_endpoint
from tests.helpers.server import ServerProcess, running_server

# the browser fixtures serve every test group (one Chromium per test process)
__all__ = ["PG_ADMIN_URL", "anonymous_page", "browser", "watch"]

_SHARED_SCOPES = ("module", "class", "package")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests of a module that share a module- or class-scoped fixture on one
    xdist worker (``xdist_group``); other tests spread freely."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None or item.get_closest_marker("xdist_group"):
            continue
        shared = any(definition.scope in _SHARED_SCOPES
                     for name in info.names_closure
                     for definition in info.name2fixturedefs.get(name, ()))
        if shared:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty TUNEHOUSE_HOME for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database for one test (the store migrates it when it opens it)."""
    return f"sqlite:///{tmp_path / 'tunehouse.db'}"


@pytest.fixture
def sqlite_schema_url(tmp_path: Path) -> str:
    """A SQLite database for one test with the schema already there (no rows)."""
    return copy_sqlite_template(tmp_path / SQLITE_FILE)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An EMPTY PostgreSQL database for one test (no tables: migration tests need that)."""
    with pg_database(migrated=False) as url:
        yield url


class _TemplateCopies:
    """Databases copied from the template, one made ahead in a background thread.

    A copy takes about a third of a second (PostgreSQL writes it through its WAL); making
    the next one while a test runs hides most of that.
    """

    def __init__(self, template: str) -> None:
        self._template = template
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-pg-copy")
        self._next = self._pool.submit(create_pg_database, self._template)

    def take(self) -> str:
        """The name of a new database nobody else uses (drop it when done)."""
        name = self._next.result()
        self._next = self._pool.submit(create_pg_database, self._template)
        return name

    def close(self) -> None:
        try:
            drop_pg_database(self._next.result())
        finally:
            self._pool.shutdown()


@pytest.fixture(scope="session")
def _pg_template_copies() -> Iterator[_TemplateCopies]:
    try:
        template = pg_template()
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not usable: {exc}")
    copies = _TemplateCopies(template)
    try:
        yield copies
    finally:
        copies.close()


@pytest.fixture
def pg_schema_url(_pg_template_copies: _TemplateCopies) -> Iterator[str]:
    """A PostgreSQL database for one test with the schema already there (no rows)."""
    name = _pg_template_copies.take()
    yield pg_database_url(name)
    drop_pg_database(name)


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server (SQLite) for the whole session; see the module docstring for who
    may use it. It refuses ``kill()`` and ``restart()``."""
    with running_server(tmp_path_factory.mktemp("shared-server") / "home") as server:
        server.shared = True
        yield server



@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Target]:
    """An S3-compatible endpoint with a bucket for this test process: the store of
    ``TUNEHOUSE_TEST_S3``, else moto's server in a subprocess (``tests/helpers/s3.py``).
    Tests write under prefixes of their own (``S3Target.location()``)."""
    with s3_endpoint(tmp_path_factory.mktemp("moto")) as target:
        yield target
