"""The real clearml SDK (from PyPI, its own virtual environment) drives a tunehouse
server; what it records is read back through tunehouse's own store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.compat.conftest import Key
from tests.helpers.clearml import run_sdk, sdk_env
from tests.helpers.server import ServerProcess
from tunehouse.client.accounts import HttpAccounts
from tunehouse.client.http import HttpStore
from tunehouse.store.records import TaskStatus

pytestmark = pytest.mark.timeout(300)

TRAIN = """
import argparse
from clearml import Task

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()
task = Task.init(project_name="clearml-flow", task_name="train", reuse_last_task_id=False,
                 auto_resource_monitoring=False)
params = task.connect({"lr": 0.01, "batch": 32})
task.connect_configuration({"layers": 3, "activation": "relu"}, name="model")
logger = task.get_logger()
for epoch in range(args.epochs):
    logger.report_scalar("loss", "train", value=1.0 / (epoch + 1), iteration=epoch)
    logger.report_scalar("accuracy", "val", value=0.5 + epoch / 10, iteration=epoch)
logger.report_text("a line by report_text")
task.upload_artifact("stats", {"best": 0.25}, wait_on_upload=True)
print("a console line")
print(f"TASK_ID={task.id}")
task.close()
"""

READ = """
import json, sys
from clearml import Task

task = Task.get_task(task_id=sys.argv[1])
print("STATUS=" + str(task.get_status()))
print("PARAMS=" + json.dumps(task.get_parameters(), sort_keys=True))
print("LAST=" + json.dumps(task.get_last_scalar_metrics(), sort_keys=True))
print("ARTIFACT=" + json.dumps(task.artifacts["stats"].get()))
print("CONFIG=" + json.dumps(task.get_configuration_object_as_dict("model"), sort_keys=True))
found = Task.get_tasks(project_name="clearml-flow", task_name="^train$",
                       task_filter={"status": ["completed"]})
print("FOUND=" + json.dumps(sorted(t.id for t in found)))
none = Task.get_tasks(project_name="clearml-flow", task_filter={"status": ["failed"]})
print("NONE=" + json.dumps([t.id for t in none]))
clone = Task.clone(source_task=task, name="train clone")
clone.set_parameters({"General/lr": 0.5, "Args/epochs": 9})
print("CLONE=" + clone.id)
"""


def _git_repo(path: Path) -> str:
    """A git repository with one commit and an uncommitted change; its commit."""
    path.mkdir(parents=True)
    (path / "README.md").write_text("demo\n")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t",
                               *args], cwd=path, check=True, capture_output=True,
                              text=True).stdout.strip()
    git("init", "-q", "-b", "main")
    git("add", "README.md")
    git("commit", "-qm", "init")
    (path / "README.md").write_text("demo\nchanged\n")
    return git("rev-parse", "HEAD")


def test_training_script_recorded_as_a_tunehouse_task(server: ServerProcess, admin_key: Key,
                                                      sdk_python: Path, tmp_path: Path) -> None:
    commit = _git_repo(tmp_path / "repo")
    env = sdk_env(server.url, admin_key.access_key, admin_key.secret_key, tmp_path / "sdk")
    run = run_sdk(sdk_python, TRAIN, env, tmp_path / "repo", args=("--epochs", "4"))
    assert run.returncode == 0, run.stderr
    task_id = run.value("TASK_ID")
    assert len(task_id) == 32 and int(task_id, 16) >= 0

    with HttpStore(server.url, admin_key.access_key, admin_key.secret_key) as store:
        task = store.tasks.get_task(task_id)
        assert (task.project, task.name, task.type.value, task.status, task.user) == (
            "clearml-flow", "train", "training", TaskStatus.completed, admin_key.user)
        params = {(p.section, p.name): p.value for p in store.tasks.get_parameters(task_id)}
        assert params == {("General", "lr"): "0.01", ("General", "batch"): "32",
                          ("Args", "epochs"): "4"}
        series = {(s.title, s.series): (s.x, s.y) for s in store.events.get_scalars(task_id)}
        assert series[("loss", "train")] == ([0, 1, 2, 3], [1.0, 0.5, 1 / 3, 0.25])
        assert series[("accuracy", "val")][0] == [0, 1, 2, 3]
        lines = [line.text for line in store.events.get_logs(task_id, limit=10_000)]
        assert "a console line" in lines and "a line by report_text" in lines
        script = store.tasks.get_script(task_id)
        assert (script.commit, script.branch, script.entry_point) == (commit, "main", "train.py")
        assert "changed" in script.diff
        files = [a for a in store.artifacts.list_artifacts(task_id) if a.kind == "clearml-file"]
        assert [a.name.rsplit("/", 2)[-2:] for a in files] == [["stats", "stats.json"]]
        configs = {c.name: c.text for c in store.tasks.get_configurations(task_id)}
        assert "layers = 3" in configs["model"]
        env_record = store.tasks.get_environment(task_id)
        assert any(p.startswith("clearml") for p in env_record.packages)
    # audited like any write of the JSON API: made as the key's user, from its address
    with HttpAccounts(server.url, admin_key.access_key, admin_key.secret_key) as accounts:
        audit = accounts.audit.list_audit_events("task", task_id, oldest_first=True)
        assert [(e.action, e.user, e.client) for e in audit][0] == (
            "task.create", admin_key.user, "127.0.0.1")

    read = run_sdk(sdk_python, READ, env, tmp_path / "reader", args=(task_id,))
    assert read.returncode == 0, read.stderr
    assert read.value("STATUS") == "completed"
    assert json.loads(read.value("PARAMS")) == {"Args/epochs": "4", "General/batch": "32",
                                                "General/lr": "0.01"}
    last = json.loads(read.value("LAST"))
    assert last["loss"]["train"] == {"last": 0.25, "min": 0.25, "max": 1.0}
    assert json.loads(read.value("ARTIFACT")) == {"best": 0.25}
    assert json.loads(read.value("CONFIG")) == {"activation": "relu", "layers": 3}
    assert json.loads(read.value("FOUND")) == [task_id]
    assert json.loads(read.value("NONE")) == []
    clone_id = read.value("CLONE")
    with HttpStore(server.url, admin_key.access_key, admin_key.secret_key) as store:
        clone = store.tasks.get_task(clone_id)
        assert (clone.name, clone.status, clone.parent_id) == (
            "train clone", TaskStatus.created, task_id)
        # set_parameters replaces the whole set, as on a ClearML server
        params = {(p.section, p.name): p.value for p in store.tasks.get_parameters(clone_id)}
        assert params == {("General", "lr"): "0.5", ("Args", "epochs"): "9"}
        assert store.tasks.get_script(clone_id).commit == commit


LIFECYCLE = """
import json
from clearml import Task

made = Task.create(project_name="clearml-life", task_name="made", task_type="testing")
made.add_tags(["keep", "demo"])
made.mark_started()
made.mark_completed()
print("MADE=" + made.id)
print("TAGGED=" + json.dumps([t.id for t in Task.get_tasks(project_name="clearml-life",
                                                           tags=["demo"])]))
failed = Task.create(project_name="clearml-life", task_name="to fail")
failed.mark_failed(status_reason="broken")
print("FAILED=" + failed.id)
stopped = Task.create(project_name="clearml-life", task_name="to stop")
stopped.mark_started()
stopped.mark_stopped()
print("STOPPED=" + stopped.id)
print("UNTAGGED=" + json.dumps(sorted(t.name for t in Task.get_tasks(
    project_name="clearml-life", tags=["-demo"]))))
"""


def test_statuses_types_and_tags(server: ServerProcess, admin_key: Key, sdk_python: Path,
                                 tmp_path: Path) -> None:
    env = sdk_env(server.url, admin_key.access_key, admin_key.secret_key, tmp_path / "sdk")
    run = run_sdk(sdk_python, LIFECYCLE, env, tmp_path / "work")
    assert run.returncode == 0, run.stderr
    made = run.value("MADE")
    assert json.loads(run.value("TAGGED")) == [made]
    assert json.loads(run.value("UNTAGGED")) == ["to fail", "to stop"]
    with HttpStore(server.url, admin_key.access_key, admin_key.secret_key) as store:
        task = store.tasks.get_task(made)
        assert (task.type.value, task.status, sorted(task.tags)) == (
            "testing", TaskStatus.completed, ["demo", "keep"])
        failed = store.tasks.get_task(run.value("FAILED"))
        assert (failed.status, failed.status_reason) == (TaskStatus.failed, "broken")
        # ClearML's "stopped" is tunehouse's "aborted"
        assert store.tasks.get_task(run.value("STOPPED")).status is TaskStatus.aborted
