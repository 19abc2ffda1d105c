"""A ``clearml-agent`` killed mid-task (SIGKILL of it and its task): the task goes back to
its queue when its lease runs out and another agent completes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.agent_flows import (
    console_text,
    open_store,
    record_and_clone,
    serving_agent,
    wait_ended,
)
from tests.compat.conftest import AGENT_LEASE_S, Key
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
from tunehouse.store.records import TaskStatus

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(agent_server: ServerProcess) -> ServerProcess:
    """This module's own server, where a pulled task's lease is short."""
    return agent_server


def test_a_killed_agents_task_is_completed_by_another(server: ServerProcess, admin_key: Key,
                                                      runner_key: Key, sdk_python: Path,
                                                      tmp_path: Path) -> None:
    with serving_agent(server, runner_key, sdk_python, tmp_path / "agent-1", "killed",
                "box-b:cpu:0") as first:
        clone = record_and_clone(sdk_python, server, admin_key, tmp_path, "killed",
                                  {"Args/epochs": 40, "Args/pause": 0.5})
        wait_until(lambda: "epoch 1 done" in console_text(server, clone), timeout=120,
                   what="the first agent never ran the task")
        first.kill()  # the daemon and the task's process: the machine died
    with open_store(server) as store:
        assert store.tasks.get_task(clone).attempt == 1
        # 40 epochs of 0.5 s: the kill came long before the end (the console lags a little)
        wait_until(lambda: store.tasks.get_task(clone).status is TaskStatus.queued,
                   timeout=AGENT_LEASE_S + 30, what="the lost task never went back to its queue",
                   seen=lambda: store.tasks.get_task(clone).status)
    with serving_agent(server, runner_key, sdk_python, tmp_path / "agent-2", "killed",
                "box-c:cpu:0") as second:
        ended = wait_ended(server, clone)
        assert ended.status is TaskStatus.completed, second.log()[-3000:]
        assert ended.attempt == 2 and ended.worker == "box-c:cpu:0"
        assert "epoch 39 done" in console_text(server, clone)
