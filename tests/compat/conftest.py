"""Fixtures of the ClearML compatibility tests: one server for the module, the real
clearml SDK in its own virtual environment, and a second user with an API key."""

from __future__ import annotations

import json
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


#: The lease of a task a clearml-agent pulled, on :func:`agent_server`: the test agents
#: report every second; a busy CI machine may delay a report by seconds, never by 15.
AGENT_LEASE_S = 15


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of the module's own for the clearml-agent tests: a pulled task's lease runs
    out after :data:`AGENT_LEASE_S` seconds."""
    home = tmp_path_factory.mktemp("clearml-agent-server") / "home"
    home.mkdir(parents=True)
    (home / "config.json").write_text(json.dumps({"clearml_lease_s": AGENT_LEASE_S}))
    with running_server(home) as found:
        yield found


@pytest.fixture(scope="module")
def runner_key(agent_server: ServerProcess) -> Key:
    """The key of ``runner``, an agent account: what the clearml agents log in with."""
    server = agent_server
    with HttpAccounts(server.url, server.access_key, server.secret_key) as accounts:
        accounts.users.create_user("runner", "runner-password-1", agent=True)
        key = accounts.keys.create_api_key("runner")
    return Key("runner", key.access_key, key.secret_key)
