"""What the clearml-agent tests share: the scripts they record and run, starting an agent
that serves a queue, and reading back what a task did (through tunehouse's own client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.compat.conftest import Key
from tests.helpers.clearml import ClearmlAgent, clearml_agent, run_sdk, sdk_env
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
from tunehouse.client.http import HttpStore
from tunehouse.store.records import Task
from tunehouse.store.status import TERMINAL

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
task.upload_artifact("result", {"lr": params["lr"]}, wait_on_upload=True)
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


@contextmanager
def serving_agent(server: ServerProcess, key: Key, sdk_python: Path, home: Path, queue: str,
           worker: str) -> Iterator[ClearmlAgent]:
    """A clearml-agent of ``key`` serving ``queue`` (created by it: waited for)."""
    with clearml_agent(sdk_python, server.url, key.access_key, key.secret_key, home, queue,
                       worker) as agent:
        wait_queue(server, queue)
        yield agent


def admin_env(server: ServerProcess, admin_key: Key, tmp: Path) -> dict[str, str]:
    """The environment of an SDK script of the admin."""
    return sdk_env(server.url, admin_key.access_key, admin_key.secret_key, tmp / "sdk")


def open_store(server: ServerProcess) -> HttpStore:
    return HttpStore(server.url, server.access_key, server.secret_key)


def wait_queue(server: ServerProcess, queue: str) -> None:
    """Until the agent has created its queue (``--create-queue``)."""
    with open_store(server) as store:
        wait_until(lambda: any(q.name == queue for q in store.queues.list_queues()),
                   timeout=60, what=f"clearml-agent never created queue {queue}")


def wait_ended(server: ServerProcess, task_id: str, timeout: float = 120) -> Task:
    with open_store(server) as store:
        wait_until(lambda: store.tasks.get_task(task_id).status in TERMINAL,
                   timeout=timeout, what=f"task {task_id} never ended")
        return store.tasks.get_task(task_id)


def console_text(server: ServerProcess, task_id: str) -> str:
    with open_store(server) as store:
        return "\n".join(line.text for line in store.events.get_logs(task_id, limit=10_000))


def record_and_clone(sdk_python: Path, server: ServerProcess, admin_key: Key, tmp: Path,
                      queue: str, edits: dict[str, object], args: tuple[str, ...] = ()) -> str:
    """A task recorded by the clearml SDK, then a clone with ``edits`` queued in ``queue``
    (as the admin); the clone's id."""
    env = admin_env(server, admin_key, tmp)
    recorded = run_sdk(sdk_python, RECORD, env, tmp / "record", args=args)
    assert recorded.returncode == 0, recorded.stderr
    source = recorded.value("TASK_ID")
    cloned = run_sdk(sdk_python, CLONE, env, tmp / "clone",
                     args=(source, "train clone", json.dumps(edits), queue))
    assert cloned.returncode == 0, cloned.stderr
    return cloned.value("CLONE")


