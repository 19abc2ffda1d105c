"""First start: one admin, credentials in a 0600 file, nothing created twice."""

from __future__ import annotations

import stat
import threading
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import ServerProcess, running_server
from tests.server.conftest import fresh_pg_database
from tunehouse.client.accounts import HttpAccounts
from tunehouse.errors import ServerUnavailable
from tunehouse.store.records import TaskCreate


def test_first_start_writes_credentials_and_restart_keeps_them(home: Path) -> None:
    with running_server(home, migrated=False) as server:  # a blank data directory
        assert stat.S_IMODE((home / "tunehouse.db").stat().st_mode) == 0o600
        path = home / "credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((home / "session-secret").stat().st_mode) == 0o600
        creds = server.credentials
        assert creds["server"] == server.url and creds["user"] == "admin"
        assert str(path) in server.log() and creds["secret_key"] not in server.log()
        assert creds["password"] not in server.log()
        me = httpx.get(f"{server.url}/api/v1/auth/me", auth=(creds["access_key"],
                                                             creds["secret_key"]))
        assert me.json() == {**me.json(), "name": "admin", "admin": True}
        login = httpx.post(f"{server.url}/api/v1/auth/login",
                           json={"username": "admin", "password": creds["password"]})
        assert login.status_code == 200

        server.restart()
        assert server.credentials == creds
        with HttpAccounts(server.url, server.access_key, server.secret_key) as admin:
            assert [u.name for u in admin.users.list_users()] == ["admin"]
            assert len(admin.keys.list_api_keys("admin")) == 1


def test_killed_server_restarts_with_its_data(home: Path) -> None:
    with running_server(home) as server:
        store = server.store()
        try:
            task = store.tasks.create_task(TaskCreate(project="restart", name="survives"))
            server.kill()
            with pytest.raises(ServerUnavailable):
                store.tasks.get_task(task.id)
            server.restart()
            assert store.tasks.get_task(task.id).name == "survives"
        finally:
            store.close()


@pytest.mark.postgres
def test_two_servers_starting_together_create_one_admin(tmp_path: Path) -> None:
    url, drop = fresh_pg_database(migrated=False)  # they also create the schema together
    servers: list[ServerProcess] = []
    errors: list[BaseException] = []
    stack = ExitStack()

    def start(name: str) -> None:
        try:
            home = tmp_path / name
            home.mkdir()
            servers.append(stack.enter_context(running_server(home, db_url=url)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        with stack:
            threads = [threading.Thread(target=start, args=(n,)) for n in ("one", "two")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors, errors
            assert len(servers) == 2
            with_credentials = [s for s in servers if s.access_key]
            assert len(with_credentials) == 1
            key = (with_credentials[0].access_key, with_credentials[0].secret_key)
            for server in servers:
                assert httpx.get(f"{server.url}/api/v1/auth/me", auth=key).status_code == 200
            first = with_credentials[0]
            with HttpAccounts(first.url, first.access_key, first.secret_key) as admin:
                assert [u.name for u in admin.users.list_users()] == ["admin"]
                assert len(admin.keys.list_api_keys("admin")) == 1
    finally:
        drop()  # type: ignore[operator]


def test_a_new_data_directory_is_private(tmp_path: Path) -> None:
    from tunehouse.store.sql import SqlStore

    home = tmp_path / "fresh" / "home"
    store = SqlStore(f"sqlite:///{home / 'tunehouse.db'}", home / "artifacts", user="u")
    store.close()
    assert home.stat().st_mode & 0o777 == 0o700
