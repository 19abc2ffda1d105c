"""Real agents (``python -m tunehouse agent`` subprocesses) against the session's real
servers (SQLite, PostgreSQL), running real task processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
from tests.server.conftest import server, shared_pg_server  # noqa: F401 - shared fixtures
from tunehouse.store.base import Store
from tunehouse.store.records import Environment, Script, Task, TaskCreate, TaskStatus

TERMINAL = {TaskStatus.completed, TaskStatus.failed, TaskStatus.aborted}


@dataclass
class AgentProcess:
    """A running ``tunehouse agent``."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


StartAgent = Callable[..., AgentProcess]


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[StartAgent]:
    """``start_agent(server, *options, name=None, env=None)``: an agent as the server's admin
    (``env`` overrides its environment), stopped (SIGTERM twice, then SIGKILL) when the test
    ends."""
    agents: list[AgentProcess] = []

    def start(target: ServerProcess, *options: str, name: str | None = None,
              env: dict[str, str] | None = None) -> AgentProcess:
        name = name or f"agent-{uuid.uuid4().hex[:8]}"
        home = tmp_path / f"home-{name}"
        log_path = tmp_path / f"{name}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tunehouse", "agent", "--name", name, *options],
                env={**target.client_env(home=home), **(env or {})}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path)
        agent = AgentProcess(name, proc, log_path)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        for sig in (signal.SIGTERM, signal.SIGTERM):
            agent.signal(sig)
            time.sleep(0.2)
        try:
            agent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            agent.proc.kill()
            agent.wait()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def script_task(store: Store, text: str, *, project: str = "agent-tests", name: str = "task",
                argv: list[str] | None = None, packages: list[str] | None = None,
                max_retries: int = 0) -> str:
    """A task whose code is the stored script ``text`` (not in git), created ``created``."""
    task = store.tasks.create_task(TaskCreate(project=project, name=name,
                                              max_retries=max_retries))
    store.tasks.set_script(task.id, Script(entry_point="task.py", script_text=text,
                                           argv=["task.py", *(argv or [])]))
    if packages is not None:
        store.tasks.set_environment(task.id, Environment(packages=packages))
    return task.id


def wait_for(store: Store, task_id: str, statuses: set[TaskStatus] | None = None,
             timeout: float = 60) -> Task:
    """The task once it is in one of ``statuses`` (default: any terminal one)."""
    wanted = statuses or TERMINAL

    def reached() -> Task | None:
        task = store.tasks.get_task(task_id)
        return task if task.status in wanted else None

    def last() -> str:
        task = store.tasks.get_task(task_id)
        return f"{task.status.value} ({task.status_reason})"

    return wait_until(reached, timeout, f"task {task_id} to be "
                      + " or ".join(sorted(s.value for s in wanted)), interval=0.1, seen=last)


def console(store: Store, task_id: str) -> list[str]:
    return [line.text for line in store.events.get_logs(task_id, limit=10_000)]
