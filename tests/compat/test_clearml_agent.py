"""The real ``clearml-agent`` (PyPI, in the clearml SDK's venv) pulls tasks from a
tunehouse server's queues: one recorded by the clearml SDK and one by tunehouse's SDK,
each cloned with edited parameters that take effect; ``execute_remotely``; a stop
request stops a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.agent_flows import (
    TUNEHOUSE_SCRIPT,
    admin_env,
    console_text,
    open_store,
    record_and_clone,
    serving_agent,
    wait_ended,
)
from tests.compat.conftest import Key
from tests.helpers.clearml import run_sdk
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
from tunehouse.store.records import Parameter, TaskStatus

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(agent_server: ServerProcess) -> ServerProcess:
    """This module's own server, where a pulled task's lease is short."""
    return agent_server


def test_clearml_agent_runs_tasks_of_both_sdks(server: ServerProcess, admin_key: Key,
                                               runner_key: Key, sdk_python: Path,
                                               tmp_path: Path) -> None:
    with serving_agent(server, runner_key, sdk_python, tmp_path / "agent", "both",
                "box-a:cpu:0") as agent:
        clearml_clone = record_and_clone(sdk_python, server, admin_key, tmp_path, "both",
                                          {"General/lr": 0.5, "Args/epochs": 3})
        # a task recorded by tunehouse's own SDK, cloned and edited through tunehouse
        (tmp_path / "native").mkdir()
        (tmp_path / "native" / "native.py").write_text(TUNEHOUSE_SCRIPT)
        done = subprocess.run([sys.executable, "native.py"], cwd=tmp_path / "native",
                              env=server.client_env(home=tmp_path / "native-home"),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        source = next(line.split("=", 1)[1] for line in done.stdout.splitlines()
                      if line.startswith("TASK_ID="))
        with open_store(server) as store:
            native_clone = store.tasks.clone_task(source, name="native clone").id
            store.tasks.set_parameters(native_clone, [Parameter(section="General", name="lr",
                                                                value="0.25", type="float")])
            store.queues.enqueue(native_clone, "both")

        ended = wait_ended(server, clearml_clone)
        assert ended.status is TaskStatus.completed, (ended, server.log()[-3000:])
        assert ended.runner == "runner" and ended.worker == "box-a:cpu:0"
        assert ended.user == admin_key.user  # the owner's task, run by the agent account
        console = console_text(server, clearml_clone)
        assert "LR=0.5 EPOCHS=3" in console and "epoch 2 done" in console
        with open_store(server) as store:
            [series] = store.events.get_scalars(clearml_clone, "loss", "train")
            uploaded = [a.name for a in store.artifacts.list_artifacts(clearml_clone)
                        if a.kind == "clearml-file"]
        assert series.x == [0, 1, 2]
        # uploaded to the file server with the agent's key, kept as the owner's
        assert uploaded and all("result" in name for name in uploaded)

        ended = wait_ended(server, native_clone)
        assert ended.status is TaskStatus.completed, agent.log()[-3000:]
        assert "TH_LR=0.25" in console_text(server, native_clone)
        with open_store(server) as store:
            [series] = store.events.get_scalars(native_clone, "loss", "train")
        assert series.y == [0.25]


REMOTE = """
from clearml import Task

task = Task.init(project_name="clearml-agent", task_name="remote", reuse_last_task_id=False,
                 auto_resource_monitoring=False)
params = task.connect({"lr": 0.01})
print(f"TASK_ID={task.id}", flush=True)
task.execute_remotely(queue_name="remote")
print(f"REMOTE LR={params['lr']}")
"""


def test_execute_remotely_hands_the_run_to_theagent(server: ServerProcess, admin_key: Key,
                                                     runner_key: Key, sdk_python: Path,
                                                     tmp_path: Path) -> None:
    with serving_agent(server, runner_key, sdk_python, tmp_path / "agent", "remote",
                "box-f:cpu:0") as agent:
        env = admin_env(server, admin_key, tmp_path)
        local = run_sdk(sdk_python, REMOTE, env, tmp_path / "local")
        assert local.returncode == 0, local.stderr
        assert "REMOTE LR" not in local.stdout  # the local process ended at the call
        task_id = local.value("TASK_ID")
        ended = wait_ended(server, task_id)
        assert ended.status is TaskStatus.completed, agent.log()[-3000:]
        assert ended.runner == "runner" and "REMOTE LR=0.01" in console_text(server, task_id)


def test_a_stop_request_stops_the_run(server: ServerProcess, admin_key: Key, runner_key: Key,
                                      sdk_python: Path, tmp_path: Path) -> None:
    with serving_agent(server, runner_key, sdk_python, tmp_path / "agent", "stopped",
                "box-d:cpu:0") as agent:
        clone = record_and_clone(sdk_python, server, admin_key, tmp_path, "stopped",
                                  {"Args/epochs": 200, "Args/pause": 0.5})
        wait_until(lambda: "epoch 1 done" in console_text(server, clone), timeout=120,
                   what="the agent never ran the task")
        with open_store(server) as store:
            store.tasks.request_abort(clone, "enough")
        ended = wait_ended(server, clone, timeout=60)
        assert ended.status is TaskStatus.aborted, agent.log()[-3000:]
        assert "epoch 199 done" not in console_text(server, clone)
