"""The reverse direction: tasks the real clearml SDK recorded, run by ``tunehouse agent``
(which sets ``CLEARML_TASK_ID``, the hosts and the attempt's key, so the SDK attaches to
the task and returns its stored values) and searched over by ``tunehouse hpo start``."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.agent.conftest import StartAgent, console, wait_for
from tests.compat.conftest import Key
from tests.helpers.clearml import run_sdk, sdk_env, sdk_settings_env
from tests.helpers.cli import run_cli
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
from tunehouse.client.http import HttpStore
from tunehouse.store.records import TaskQuery, TaskStatus

#: A training script as ClearML users write it: argparse, ``task.connect(dict)``, scalars.
TRAIN = """
import argparse, time
from clearml import Task

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()
task = Task.init(project_name="clearml-reverse", task_name="reverse", reuse_last_task_id=False,
                 auto_resource_monitoring=False)
params = task.connect({"lr": 0.1, "note": "base", "sleep": 0.0})
logger = task.get_logger()
print(f"LR={params['lr']!r} EPOCHS={args.epochs!r} NOTE={params['note']}")
if params["note"] == "fail":
    raise SystemExit("asked to fail")
for epoch in range(args.epochs):
    logger.report_scalar("objective", "value", value=params["lr"] * (epoch + 1),
                         iteration=epoch)
    time.sleep(params["sleep"])
logger.report_text("a line by report_text")
print(f"TASK_ID={task.id}")
"""


def _git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          cwd=path, check=True, capture_output=True, text=True).stdout.strip()


def _recorded(sdk_python: Path, server: ServerProcess, key: Key, tmp_path: Path) -> str:
    """A task recorded by the clearml SDK from a git checkout whose origin the agent can
    clone (a bare repository on this machine); its id."""
    origin, repo = tmp_path / "origin.git", tmp_path / "repo"
    origin.mkdir()
    _git(origin, "init", "-q", "--bare", "-b", "main")
    _git(tmp_path, "clone", "-q", str(origin), str(repo))
    (repo / "train.py").write_text(TRAIN)
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "train")
    _git(repo, "push", "-q", "origin", "HEAD:main")
    env = sdk_env(server.url, key.access_key, key.secret_key, tmp_path / "sdk")
    run = run_sdk(sdk_python, TRAIN, env, repo)
    assert run.returncode == 0, run.stderr
    assert "LR=0.1 EPOCHS=2 NOTE=base" in run.stdout
    return run.value("TASK_ID")


def _agent(start_agent: StartAgent, server: ServerProcess, sdk_python: Path, tmp_path: Path,
           queue: str, *options: str) -> None:
    """``tunehouse agent`` serving ``queue`` whose tasks run with the SDK's interpreter."""
    start_agent(server, "--queue", queue, "--cpu-only", "--python", str(sdk_python),
                "--grace", "5", *options, env=sdk_settings_env(tmp_path / "agent-sdk"))


@pytest.mark.timeout(240)
def test_agent_runs_an_edited_clone_of_a_clearml_task(
        server: ServerProcess, admin_key: Key, sdk_python: Path, tmp_path: Path,
        start_agent: StartAgent) -> None:
    base = _recorded(sdk_python, server, admin_key, tmp_path)
    queue = f"reverse-{uuid.uuid4().hex[:8]}"
    cloned = run_cli("tasks", "clone", base, "--name", "edited", "--set", "General/lr=0.5",
                     "--set", "Args/epochs=3", "--queue", queue,
                     env=server.client_env(home=tmp_path / "cli"), cwd=tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    clone_id = next(word for word in cloned.stdout.split() if len(word) == 32)
    _agent(start_agent, server, sdk_python, tmp_path, queue)
    with HttpStore(server.url, admin_key.access_key, admin_key.secret_key) as store:
        task = wait_for(store, clone_id, timeout=120)
        lines = console(store, clone_id)
        print("\n".join(lines))
        print("SERVERLOG", server.log()[-20000:])
        assert task.status is TaskStatus.completed, (task.status_reason, lines)
        # the SDK attached to the clone and returned its edited values (typed as recorded)
        assert lines.count("LR=0.5 EPOCHS=3 NOTE=base") == 1, lines
        assert lines.count(f"TASK_ID={clone_id}") == 1
        # the console once: the agent records it, the SDK under it sends none
        assert lines.count("a line by report_text") == 1, lines
        series = {(s.title, s.series): (s.x, s.y) for s in store.events.get_scalars(clone_id)}
        assert series == {("objective", "value"): ([0, 1, 2], [0.5, 1.0, 1.5])}
        params = {(p.section, p.name): p.value for p in store.tasks.get_parameters(clone_id)}
        assert params[("General", "lr")] == "0.5" and params[("Args", "epochs")] == "3"
        # the base task is untouched
        assert store.tasks.get_task(base).status is TaskStatus.completed
        assert len(store.events.get_scalars(base)[0].x) == 2


@pytest.mark.timeout(60)
def test_agent_python_option_is_checked(server: ServerProcess, sdk_python: Path,
                                        tmp_path: Path) -> None:
    env = server.client_env(home=tmp_path / "cli")
    missing = run_cli("agent", "--cpu-only", "--python", str(tmp_path / "nowhere"), env=env,
                      cwd=tmp_path)
    assert missing.returncode != 0
    assert "--python" in missing.stderr and "not an executable file" in missing.stderr
    with_venv = run_cli("agent", "--cpu-only", "--env", "venv", "--python", str(sdk_python),
                        env=env, cwd=tmp_path)
    assert with_venv.returncode != 0 and "--python goes with --env current" in with_venv.stderr


@pytest.mark.timeout(240)
def test_abort_and_failure_of_a_clearml_task_under_the_agent(
        server: ServerProcess, admin_key: Key, sdk_python: Path, tmp_path: Path,
        start_agent: StartAgent) -> None:
    base = _recorded(sdk_python, server, admin_key, tmp_path)
    queue = f"reverse-{uuid.uuid4().hex[:8]}"
    env = server.client_env(home=tmp_path / "cli")
    slow = run_cli("tasks", "clone", base, "--set", "General/sleep=1.0", "--set",
                   "Args/epochs=600", "--queue", queue, env=env, cwd=tmp_path)
    broken = run_cli("tasks", "clone", base, "--set", "General/note=fail", "--queue",
                     queue, env=env, cwd=tmp_path)
    assert slow.returncode == 0 and broken.returncode == 0, (slow.stderr, broken.stderr)
    slow_id, broken_id = (next(w for w in done.stdout.split() if len(w) == 32)
                          for done in (slow, broken))
    # a long grace: the stop must not wait for SIGKILL (the SDK ignores SIGTERM)
    _agent(start_agent, server, sdk_python, tmp_path, queue, "--slots", "2", "--grace", "60")
    with HttpStore(server.url, admin_key.access_key, admin_key.secret_key) as store:
        wait_until(lambda: len(store.events.get_scalars(slow_id)) == 1, 90,
                   "the slow clone to report a scalar", interval=0.2)
        started = time.monotonic()
        store.tasks.request_abort(slow_id, "enough")
        aborted = wait_for(store, slow_id, timeout=60)
        assert aborted.status is TaskStatus.aborted, aborted.status_reason
        assert time.monotonic() - started < 20
        assert "KeyboardInterrupt" in console(store, slow_id)
        failed = wait_for(store, broken_id, timeout=90)
        assert failed.status is TaskStatus.failed
        assert "exit code 1" in failed.status_reason, failed.status_reason


@pytest.mark.timeout(300)
def test_hpo_start_over_a_clearml_task(server: ServerProcess, admin_key: Key, sdk_python: Path,
                                       tmp_path: Path, start_agent: StartAgent) -> None:
    """Parameters named as ClearML names them, the objective a scalar the SDK reported,
    trials run by ``tunehouse agent``; each trial is stopped at iteration 2 by the search
    (the stop request that pruning also sends) and counts with its last value."""
    base = _recorded(sdk_python, server, admin_key, tmp_path)
    queue = f"reverse-hpo-{uuid.uuid4().hex[:8]}"
    _agent(start_agent, server, sdk_python, tmp_path, queue, "--slots", "2")
    space = tmp_path / "space.yaml"
    space.write_text("General/lr: uniform(0.1, 1.0)\nGeneral/sleep: choice([0.4])\n"
                     "Args/epochs: int(30, 40)\n")
    search = run_cli("hpo", "start", "--base-task", base, "--space", str(space),
                     "--objective", "objective/value:max", "--strategy", "random",
                     "--max-trials", "3", "--concurrency", "2", "--max-iteration", "2",
                     "--seed", "4", "--queue", queue,
                     env=server.client_env(home=tmp_path / "cli"), cwd=tmp_path)
    assert search.returncode == 0, (search.stdout, search.stderr)
    search_id = next(word.rstrip(":") for word in search.stdout.split()
                     if len(word.rstrip(":")) == 32)
    with HttpStore(server.url, admin_key.access_key, admin_key.secret_key) as store:
        assert store.tasks.get_task(search_id).status is TaskStatus.completed
        children = store.tasks.list_tasks(TaskQuery(parent_id=search_id, limit=10)).tasks
        assert len(children) == 3
        for child in children:
            params = {f"{p.section}/{p.name}": p.value
                      for p in store.tasks.get_parameters(child.id)}
            lr = float(params["General/lr"])
            assert 0.1 <= lr <= 1.0 and 30 <= int(params["Args/epochs"]) <= 40
            # stopped by the search at iteration 2, having run with its sampled lr
            assert child.status is TaskStatus.aborted, (child.status, child.status_reason)
            (scalars,) = store.events.get_scalars(child.id)
            assert scalars.y[:3] == pytest.approx([lr, 2 * lr, 3 * lr])
            assert f"LR={lr!r} EPOCHS={int(params['Args/epochs'])!r} NOTE=base" in console(
                store, child.id)
    assert "best parameters: General/lr=" in search.stdout
