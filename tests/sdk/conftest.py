"""SDK test backends: the embedded store in a temporary TUNEHOUSE_HOME, and a real server.

Scripts under ``tests/sdk/scripts`` run as subprocesses with a controlled environment:
no TUNEHOUSE_* variable of the developer is inherited and TUNEHOUSE_HOME is always set.

``backend``'s server variant uses the session's shared server (``tests/conftest.py``): the
SDK tests read back only the tasks they created, by id (or in projects of their own). Each
test still gets its own TUNEHOUSE_HOME for its clients (offline spool, model cache).
``served`` starts a private server, for tests that kill or restart it. ``sdk_env`` points the test process itself at
``backend`` (for the SDK's class methods: ``Task.clone``, ``Task.get_tasks``...).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.databases import embedded_store
from tests.helpers.server import ServerProcess, clean_env, running_server
from tunehouse.sdk.state import RUN_STATE
from tunehouse.settings import Settings
from tunehouse.store.base import Store

SCRIPTS = Path(__file__).parent / "scripts"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Backend:
    """Where a test's scripts report to, and a store to check what they stored."""

    name: str
    env: dict[str, str]
    store: Store
    workdir: Path
    server: ServerProcess | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(env=self.env)

    def script_env(self, **extra: str) -> dict[str, str]:
        env = dict(self.env)
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    def start(self, script: str, *args: str, cwd: Path | None = None,
              **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(SCRIPTS / script), *args], cwd=cwd or self.workdir,
            env=self.script_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)

    def run(self, script: str, *args: str, cwd: Path | None = None, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(SCRIPTS / script), *args], cwd=cwd or self.workdir,
            env=self.script_env(**env), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, check=False)


def task_id_from(output: str) -> str:
    """The id a script printed as ``TASK_ID=<id>``."""
    for line in output.splitlines():
        if line.startswith("TASK_ID="):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"no TASK_ID line in output:\n{output}")


def json_from(output: str, key: str) -> Any:
    """The JSON a script printed as ``<key>=<json>``."""
    for line in output.splitlines():
        if line.startswith(f"{key}="):
            return json.loads(line.split("=", 1)[1])
    raise AssertionError(f"no {key} line in output:\n{output}")


@contextmanager
def make_backend(kind: str, tmp_path: Path,
                 shared: ServerProcess | None = None) -> Iterator[Backend]:
    """A backend of ``kind`` (``embedded`` or ``server``) under ``tmp_path``.

    A ``server`` backend uses ``shared`` when given (with a TUNEHOUSE_HOME of its own under
    ``tmp_path``), else a server of its own that ends with the block.
    """
    workdir = tmp_path / "work"
    workdir.mkdir()
    if kind == "embedded":
        home = tmp_path / "home"
        env = clean_env(TUNEHOUSE_HOME=str(home))
        store = embedded_store(home)
        try:
            yield Backend("embedded", env, store, workdir)
        finally:
            store.close()
        return
    if shared is not None:
        client_home = tmp_path / "client-home"
        client_home.mkdir()
        store = shared.store()
        try:
            yield Backend("server", shared.client_env(home=client_home), store, workdir,
                          server=shared)
        finally:
            store.close()
        return
    with running_server(tmp_path / "server") as server:
        env = server.client_env()
        store = server.store()
        try:
            yield Backend("server", env, store, workdir, server=server)
        finally:
            store.close()


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each SDK test runs once against the embedded store and once against a server (the
    session's shared one)."""
    shared = request.getfixturevalue("shared_server") if request.param == "server" else None
    with make_backend(request.param, tmp_path, shared) as made:
        yield made


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Backend]:
    """The embedded backend alone (for tests that need no server)."""
    with make_backend("embedded", tmp_path) as made:
        yield made


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Backend]:
    """The server backend alone, on a private server (for tests that kill the server)."""
    with make_backend("server", tmp_path) as made:
        yield made


@pytest.fixture
def sdk_env(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """The test process's environment points at ``backend`` (for ``Task.clone`` and
    ``Task.enqueue`` without a running task); the store they open is closed afterwards."""
    for name in [n for n in os.environ if n.startswith("TUNEHOUSE_")]:
        monkeypatch.delenv(name)
    for name, value in backend.env.items():
        if name.startswith("TUNEHOUSE_"):
            monkeypatch.setenv(name, value)
    yield backend
    store = RUN_STATE.stores_by_settings.pop(Settings.from_env(), None)
    if store is not None:
        store.close()
