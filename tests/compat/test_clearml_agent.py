"""The real ``clearml-agent`` (PyPI, in the clearml SDK's venv) pulls tasks from a
tunehouse server's queues: one recorded by the clearml SDK and one recorded by
tunehouse's SDK, each cloned with edited parameters that take effect; a killed agent's
task goes back to its queue and another agent completes it; a stop request stops a run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.compat.conftest import Key
from tests.helpers.clearml import ClearmlAgent, clearml_agent, run_sdk, sdk_env
from tests.helpers.server import ServerProcess, running_server
from tests.helpers.wait import wait_until
from tunehouse.client.accounts import HttpAccounts
from tunehouse.client.http import HttpStore
from tunehouse.store.records import Parameter, Task, TaskQuery, TaskStatus
from tunehouse.store.status import TERMINAL

pytestmark = pytest.mark.timeout(300)

#: The lease of a pulled task on this module's server (the agents report every second).
LEASE_S = 4

RECORD = """
import argparse, time
from clearml import Task

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--pause", type=float, default=0.0)
args = parser.parse_args()
task = Task.init(project_name="clearml-agent", task_name="train", reuse_last_task_id=False,
                 auto_resource_monitoring=False)
params = task.connect({"lr": 0.01})
print(f"LR={params['lr']} EPOCHS={args.epochs}")
for epoch in range(args.epochs):
    task.get_logger().report_scalar("loss", "train", value=1.0 / (epoch + 1), iteration=epoch)
    print(f"epoch {epoch} done", flush=True)
    time.sleep(args.pause)
print(f"TASK_ID={task.id}")
"""

CLONE = """
import json, sys
from clearml import Task

source = Task.get_task(task_id=sys.argv[1])
clone = Task.clone(source_task=source, name=sys.argv[2])
clone.set_parameters(json.loads(sys.argv[3]))
Task.enqueue(clone, queue_name=sys.argv[4])
print(f"CLONE={clone.id}")
"""

TUNEHOUSE_SCRIPT = """
from tunehouse import Task

task = Task.init(project_name="clearml-agent", task_name="native")
params = task.connect({"lr": 0.01})
print(f"TH_LR={params['lr']}")
task.get_logger().report_scalar("loss", "train", value=float(params["lr"]), iteration=0)
print(f"TASK_ID={task.id}")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """This module's server: a pulled task's lease runs out after LEASE_S seconds."""
    home = tmp_path_factory.mktemp("clearml-agent-server") / "home"
    home.mkdir(parents=True)
    (home / "config.json").write_text(json.dumps({"clearml_lease_s": LEASE_S}))
    with running_server(home) as found:
        yield found


@pytest.fixture(scope="module")
def runner_key(server: ServerProcess) -> Key:
    """The key of ``runner``, an agent account: what the clearml agents log in with."""
    with HttpAccounts(server.url, server.access_key, server.secret_key) as accounts:
        accounts.users.create_user("runner", "runner-password-1", agent=True)
        key = accounts.keys.create_api_key("runner")
    return Key("runner", key.access_key, key.secret_key)


@contextmanager
def _agent(server: ServerProcess, key: Key, sdk_python: Path, home: Path, queue: str,
           worker: str) -> Iterator[ClearmlAgent]:
    """A clearml-agent of ``key`` serving ``queue`` (created by it: waited for)."""
    with clearml_agent(sdk_python, server.url, key.access_key, key.secret_key, home, queue,
                       worker) as agent:
        _wait_queue(server, queue)
        yield agent


def _admin_env(server: ServerProcess, admin_key: Key, tmp: Path) -> dict[str, str]:
    """The environment of an SDK script of the admin."""
    return sdk_env(server.url, admin_key.access_key, admin_key.secret_key, tmp / "sdk")


def _store(server: ServerProcess) -> HttpStore:
    return HttpStore(server.url, server.access_key, server.secret_key)


def _wait_queue(server: ServerProcess, queue: str) -> None:
    """Until the agent has created its queue (``--create-queue``)."""
    with _store(server) as store:
        wait_until(lambda: any(q.name == queue for q in store.queues.list_queues()),
                   timeout=60, what=f"clearml-agent never created queue {queue}")


def _wait_ended(server: ServerProcess, task_id: str, timeout: float = 120) -> Task:
    with _store(server) as store:
        wait_until(lambda: store.tasks.get_task(task_id).status in TERMINAL,
                   timeout=timeout, what=f"task {task_id} never ended")
        return store.tasks.get_task(task_id)


def _console(server: ServerProcess, task_id: str) -> str:
    with _store(server) as store:
        return "\n".join(line.text for line in store.events.get_logs(task_id, limit=10_000))


def _record_and_clone(sdk_python: Path, server: ServerProcess, admin_key: Key, tmp: Path,
                      queue: str, edits: dict[str, object], args: tuple[str, ...] = ()) -> str:
    """A task recorded by the clearml SDK, then a clone with ``edits`` queued in ``queue``
    (as the admin); the clone's id."""
    env = _admin_env(server, admin_key, tmp)
    recorded = run_sdk(sdk_python, RECORD, env, tmp / "record", args=args)
    assert recorded.returncode == 0, recorded.stderr
    source = recorded.value("TASK_ID")
    cloned = run_sdk(sdk_python, CLONE, env, tmp / "clone",
                     args=(source, "train clone", json.dumps(edits), queue))
    assert cloned.returncode == 0, cloned.stderr
    return cloned.value("CLONE")


def test_clearml_agent_runs_tasks_of_both_sdks(server: ServerProcess, admin_key: Key,
                                               runner_key: Key, sdk_python: Path,
                                               tmp_path: Path) -> None:
    with _agent(server, runner_key, sdk_python, tmp_path / "agent", "both",
                "box-a:cpu:0") as agent:
        clearml_clone = _record_and_clone(sdk_python, server, admin_key, tmp_path, "both",
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
        with _store(server) as store:
            native_clone = store.tasks.clone_task(source, name="native clone").id
            store.tasks.set_parameters(native_clone, [Parameter(section="General", name="lr",
                                                                value="0.25", type="float")])
            store.queues.enqueue(native_clone, "both")

        ended = _wait_ended(server, clearml_clone)
        assert ended.status is TaskStatus.completed, (ended, server.log()[-3000:])
        assert ended.runner == "runner" and ended.worker == "box-a:cpu:0"
        assert ended.user == admin_key.user  # the owner's task, run by the agent account
        console = _console(server, clearml_clone)
        assert "LR=0.5 EPOCHS=3" in console and "epoch 2 done" in console
        with _store(server) as store:
            [series] = store.events.get_scalars(clearml_clone, "loss", "train")
        assert series.x == [0, 1, 2]

        ended = _wait_ended(server, native_clone)
        assert ended.status is TaskStatus.completed, agent.log()[-3000:]
        assert "TH_LR=0.25" in _console(server, native_clone)
        with _store(server) as store:
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


def test_execute_remotely_hands_the_run_to_the_agent(server: ServerProcess, admin_key: Key,
                                                     runner_key: Key, sdk_python: Path,
                                                     tmp_path: Path) -> None:
    with _agent(server, runner_key, sdk_python, tmp_path / "agent", "remote",
                "box-f:cpu:0") as agent:
        env = _admin_env(server, admin_key, tmp_path)
        local = run_sdk(sdk_python, REMOTE, env, tmp_path / "local")
        assert local.returncode == 0, local.stderr
        assert "REMOTE LR" not in local.stdout  # the local process ended at the call
        task_id = local.value("TASK_ID")
        ended = _wait_ended(server, task_id)
        assert ended.status is TaskStatus.completed, agent.log()[-3000:]
        assert ended.runner == "runner" and "REMOTE LR=0.01" in _console(server, task_id)


def test_a_killed_agents_task_is_completed_by_another(server: ServerProcess, admin_key: Key,
                                                      runner_key: Key, sdk_python: Path,
                                                      tmp_path: Path) -> None:
    with _agent(server, runner_key, sdk_python, tmp_path / "agent-1", "killed",
                "box-b:cpu:0") as first:
        clone = _record_and_clone(sdk_python, server, admin_key, tmp_path, "killed",
                                  {"Args/epochs": 40, "Args/pause": 0.5})
        wait_until(lambda: "epoch 1 done" in _console(server, clone), timeout=120,
                   what="the first agent never ran the task")
        first.kill()  # the daemon and the task's process: the machine died
    with _store(server) as store:
        assert store.tasks.get_task(clone).attempt == 1
        # 40 epochs of 0.5 s: the kill came long before the end (the console lags a little)
        wait_until(lambda: store.tasks.get_task(clone).status is TaskStatus.queued,
                   timeout=LEASE_S + 30, what="the lost task never went back to its queue",
                   seen=lambda: store.tasks.get_task(clone).status)
    with _agent(server, runner_key, sdk_python, tmp_path / "agent-2", "killed",
                "box-c:cpu:0") as second:
        ended = _wait_ended(server, clone)
        assert ended.status is TaskStatus.completed, second.log()[-3000:]
        assert ended.attempt == 2 and ended.worker == "box-c:cpu:0"
        assert "epoch 39 done" in _console(server, clone)


def test_a_stop_request_stops_the_run(server: ServerProcess, admin_key: Key, runner_key: Key,
                                      sdk_python: Path, tmp_path: Path) -> None:
    with _agent(server, runner_key, sdk_python, tmp_path / "agent", "stopped",
                "box-d:cpu:0") as agent:
        clone = _record_and_clone(sdk_python, server, admin_key, tmp_path, "stopped",
                                  {"Args/epochs": 200, "Args/pause": 0.5})
        wait_until(lambda: "epoch 1 done" in _console(server, clone), timeout=120,
                   what="the agent never ran the task")
        with _store(server) as store:
            store.tasks.request_abort(clone, "enough")
        ended = _wait_ended(server, clone, timeout=60)
        assert ended.status is TaskStatus.aborted, agent.log()[-3000:]
        assert "epoch 199 done" not in _console(server, clone)


OPTIMIZE = """
import json, sys
from clearml import Task
from clearml.automation import (HyperParameterOptimizer, UniformParameterRange,
                                DiscreteParameterRange)
from clearml.automation.optuna import OptimizerOptuna

task = Task.init(project_name="clearml-agent", task_name="optimizer",
                 task_type=Task.TaskTypes.optimizer, reuse_last_task_id=False,
                 auto_resource_monitoring=False)
optimizer = HyperParameterOptimizer(
    base_task_id=sys.argv[1],
    hyper_parameters=[UniformParameterRange("General/lr", min_value=0.01, max_value=1.0),
                      DiscreteParameterRange("Args/epochs", values=[2, 3])],
    objective_metric_title="loss", objective_metric_series="train",
    objective_metric_sign="min", optimizer_class=OptimizerOptuna,
    execution_queue=sys.argv[2], max_number_of_concurrent_tasks=1, total_max_jobs=3,
    pool_period_min=0.02, min_iteration_per_job=1, max_iteration_per_job=10,
    optuna_sampler=None, save_top_k_tasks_only=None)
# the progress report's period (5 min by default): stop() waits for its next report
optimizer.set_report_period(0.05)
optimizer.start()
optimizer.wait()
top = optimizer.get_top_experiments(top_k=3)
print("TOP=" + json.dumps([t.id for t in top]))
optimizer.stop()
print("OPTIMIZER=" + task.id)
"""


def test_clearml_hyper_parameter_optimizer_with_optuna(server: ServerProcess, admin_key: Key,
                                                       runner_key: Key, sdk_python: Path,
                                                       tmp_path: Path) -> None:
    with _agent(server, runner_key, sdk_python, tmp_path / "agent", "optuna",
                "box-e:cpu:0") as agent:
        env = _admin_env(server, admin_key, tmp_path)
        recorded = run_sdk(sdk_python, RECORD, env, tmp_path / "record")
        assert recorded.returncode == 0, recorded.stderr
        base = recorded.value("TASK_ID")
        search = run_sdk(sdk_python, OPTIMIZE, env, tmp_path / "optimize",
                         args=(base, "optuna"), timeout=240)
        assert search.returncode == 0, (search.stdout[-3000:], search.stderr[-3000:],
                                        agent.log()[-2000:])
        top = json.loads(search.value("TOP"))
        optimizer = search.value("OPTIMIZER")
    with _store(server) as store:
        trials = list(store.tasks.iter_tasks(TaskQuery(parent_id=optimizer)))
        assert len(trials) == 3 and all(t.status is TaskStatus.completed for t in trials)
        assert sorted(top) == sorted(t.id for t in trials)
        lrs = {t.id: float(next(p.value for p in store.tasks.get_parameters(t.id)
                                if p.name == "lr")) for t in trials}
        assert len(set(lrs.values())) == 3  # each trial its own sampled value
        finals = {t.id: store.events.get_metric_summaries(t.id) for t in trials}
    last = {tid: next(s.last for s in summaries if s.title == "loss") for tid, summaries
            in finals.items()}
    values = [last[tid] for tid in top]
    assert None not in values and values == sorted(v for v in values if v is not None)
