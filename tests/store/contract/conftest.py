"""Fixtures of the contract suite: the store and the accounts of the backend under test.

``store`` and ``accounts`` (``tests/store/conftest.py``'s ``store_kind``: SQLite,
PostgreSQL, HTTP) work on one backend per test: on SQL the same database, over HTTP the
session's shared server as its admin. ``db_store`` and ``db_accounts`` are the SQL
backends alone, for the store-only operations of the accounts, their times taken from
``clock``, a :class:`~tests.helpers.clock.FakeClock` the test moves forward. Passwords on
SQL are hashed with :data:`~tests.helpers.accounts.FAST_HASHER`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.accounts import FAST_HASHER
from tests.helpers.clock import FakeClock
from tunehouse.store.accounts import Accounts
from tunehouse.store.base import Store
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.accounts import SqlAccountStore

SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def accounts(store: Store, store_kind: str, request: pytest.FixtureRequest
             ) -> Iterator[Accounts]:
    """The account areas of the backend of ``store`` (over HTTP: as the admin)."""
    if store_kind == "http":
        from tunehouse.client.accounts import HttpAccounts

        server = request.getfixturevalue("http_server")
        with HttpAccounts(server.url, server.access_key, server.secret_key) as remote:
            yield remote
        return
    from tunehouse.server.accounts import open_accounts

    assert isinstance(store, SqlStore)
    yield open_accounts(store, hasher=FAST_HASHER)


@pytest.fixture
def audit_log(accounts: Accounts) -> Any:
    """The audit log of the backend under test (the store writes it; reading it is the
    accounts' ``audit`` area)."""
    return accounts.audit


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=SQL_BACKENDS)
def db_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    url = request.getfixturevalue("sqlite_schema_url" if request.param == "sqlite"
                                  else "pg_schema_url")
    with SqlStore(url, tmp_path / "artifacts", user="tester") as opened:
        yield opened


@pytest.fixture
def db_accounts(db_store: SqlStore, clock: FakeClock) -> SqlAccountStore:
    """The accounts of ``db_store``'s database, acting as ``tester``, on ``clock``."""
    from tunehouse.server.accounts import open_accounts

    return open_accounts(db_store, clock=clock, hasher=FAST_HASHER)
