"""Fixtures of the ClearML compatibility tests: one server for the module, the real
clearml SDK in its own virtual environment, and a second user with an API key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agent.conftest import start_agent  # noqa: F401 - real agents (reverse direction)
from tests.helpers.clearml import clearml_python
from tests.helpers.server import ServerProcess, running_server
from tunehouse.client.accounts import HttpAccounts


@dataclass(frozen=True)
class Key:
    """An API key of a user of the test server."""

    user: str
    access_key: str
    secret_key: str


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    """The interpreter of the real clearml SDK (installed once per test session)."""
    return clearml_python()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A tunehouse server of this module's own (its users are the module's)."""
    with running_server(tmp_path_factory.mktemp("clearml-server") / "home") as found:
        yield found


@pytest.fixture(scope="module")
def admin_key(server: ServerProcess) -> Key:
    """The server's admin key."""
    return Key(server.admin_user, server.access_key, server.secret_key)


@pytest.fixture(scope="module")
def other_key(server: ServerProcess) -> Key:
    """A key of ``mallory``, a plain user (viewer on others' projects by default)."""
    with HttpAccounts(server.url, server.access_key, server.secret_key) as accounts:
        accounts.users.create_user("mallory", "not-an-admin-1")
        key = accounts.keys.create_api_key("mallory")
    return Key("mallory", key.access_key, key.secret_key)
