"""A real tracking server in a subprocess, for tests and benchmarks.

``running_server(home, db_url, port)`` starts ``python -m tunehouse server`` on a free
port, waits for ``/api/v1/health``, reads the admin credentials the first start wrote and
yields a :class:`ServerProcess`; the process is always stopped on exit. A server on a new
data directory's SQLite database starts from a copy of a migrated template
(``tests/helpers/databases.py``) unless ``migrated=False`` asks for a blank one.

A server marked ``shared`` (the test session's server, see ``tests/conftest.py``) refuses
``kill()`` and ``restart()``: tests that need either must start a server of their own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.helpers.databases import SQLITE_FILE, copy_sqlite_template
from tests.helpers.wait import wait_until

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any TUNEHOUSE_* variable of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """A running server and the admin credentials of its first start."""

    url: str
    home: Path
    port: int
    db_url: str | None
    proc: subprocess.Popen[bytes]
    access_key: str = ""
    secret_key: str = ""
    admin_user: str = ""
    admin_password: str = ""
    log_path: Path = field(default_factory=Path)
    shared: bool = False
    _log: IO[bytes] | None = None

    @property
    def credentials(self) -> dict[str, str]:
        return json.loads((self.home / "credentials.json").read_text())

    def client_env(self, home: Path | None = None) -> dict[str, str]:
        """Environment for a subprocess (SDK, CLI) that talks to this server as admin.

        ``home`` is the clients' TUNEHOUSE_HOME (offline spool, model cache); without it,
        ``client`` under the server's data directory. Tests on a shared server pass their own.
        """
        return clean_env(TUNEHOUSE_SERVER=self.url, TUNEHOUSE_ACCESS_KEY=self.access_key,
                         TUNEHOUSE_SECRET_KEY=self.secret_key,
                         TUNEHOUSE_HOME=str(home or self.home / "client"))

    def store(self):  # type: ignore[no-untyped-def]
        """An HttpStore acting as the admin (close it when done)."""
        from tunehouse.client.http import HttpStore

        return HttpStore(self.url, self.access_key, self.secret_key)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the server (no graceful shutdown)."""
        self._refuse_if_shared("kill")
        self._kill()

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing it after 15 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop (if running) and start again on the same port, data directory and database."""
        self._refuse_if_shared("restart")
        self.stop()
        self._start()

    def _refuse_if_shared(self, action: str) -> None:
        if self.shared:
            raise RuntimeError(f"cannot {action} the test session's shared server; a test "
                               "that does must start its own (running_server)")

    def _start(self) -> None:
        command = [sys.executable, "-m", "tunehouse", "server", "--data-dir", str(self.home),
                   "--port", str(self.port), "--host", "127.0.0.1"]
        if self.db_url:
            command += ["--db", self.db_url]
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # the watchdog reaps expired leases as the contract tests do (one retry)
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     env=clean_env(TUNEHOUSE_WORKER_LOST_RETRIES="1"))
        self._wait_healthy()
        if not (self.home / "credentials.json").exists():
            return  # another server created the admin of this database
        creds = self.credentials
        self.access_key, self.secret_key = creds["access_key"], creds["secret_key"]
        self.admin_user, self.admin_password = creds["user"], creds["password"]

    def _wait_healthy(self) -> None:
        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        def running() -> None:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")

        try:
            wait_until(healthy, START_TIMEOUT_S, "the server to answer /api/v1/health",
                       check=running)
        except AssertionError as exc:
            self._kill()
            raise RuntimeError(f"{exc}\n{self.log()}") from None


@contextmanager
def running_server(home: Path, db_url: str | None = None, port: int | None = None,
                   migrated: bool = True) -> Iterator[ServerProcess]:
    """Run ``python -m tunehouse server --data-dir HOME [--db URL]`` until the block ends.

    Without ``db_url``, a data directory without a database gets a copy of the migrated
    SQLite template first (``migrated=False``: the server creates the schema itself, as on
    a user's first start). The yielded process carries the admin credentials from
    ``HOME/credentials.json``; they are empty when the database already had users before
    this data directory saw it.
    """
    port = port or free_port()
    if db_url is None and migrated and not (home / SQLITE_FILE).exists():
        copy_sqlite_template(home / SQLITE_FILE)
    server = ServerProcess(url=f"http://127.0.0.1:{port}", home=home, port=port, db_url=db_url,
                           proc=None,  # type: ignore[arg-type]
                           log_path=home.parent / f"server-{port}.log")
    try:
        server._start()
        yield server
    finally:
        if server.proc is not None:
            server.stop()
