"""Agents run what was recorded: code from git with its uncommitted diff, edited
parameters, the owner's identity, many tasks exactly once, retries, aborts, time limits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.agent.conftest import StartAgent, console, script_task, unique, wait_for
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
from tunehouse.client.accounts import HttpAccounts
from tunehouse.client.http import HttpStore
from tunehouse.store.records import ApiKey, Parameter, TaskCreate, TaskQuery, TaskStatus

REPO_ROOT = Path(__file__).resolve().parents[2]

TRAIN = textwrap.dedent("""
    import argparse
    from tunehouse import Task

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    task = Task.init(project_name=PROJECT, task_name="train")
    for step in range(args.steps):
        task.get_logger().report_scalar("loss", "train", args.lr * (step + 1), step)
        print("step", step, "lr", args.lr, "version", VERSION, flush=True)
""")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.parametrize("remote", [False, True], ids=["no-remote", "unreachable-remote"])
def test_git_script_with_an_edit_is_cloned_edited_and_run_as_its_owner(
        tmp_path: Path, server: ServerProcess, start_agent: StartAgent, remote: bool) -> None:
    """Without a remote the repository is recorded by its path; with a remote the agent
    cannot reach (or a commit never pushed), an agent on the recording machine clones the
    repository's folder."""
    project = unique("agent-git")
    alice = unique("alice")
    with HttpAccounts(server.url, server.access_key, server.secret_key) as admin:
        admin.users.create_user(alice, "alice-password-123")
        key = admin.keys.create_api_key(alice)
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "alice@example.com")
    _git(repo, "config", "user.name", "alice")
    (repo / "train.py").write_text(f"PROJECT = {project!r}\nVERSION = 'committed'\n" + TRAIN)
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "train")
    if remote:
        _git(repo, "remote", "add", "origin", "https://tunehouse.invalid/nowhere.git")
    # an uncommitted edit the agent must bring back with the recorded diff
    text = (repo / "train.py").read_text().replace("'committed'", "'edited-in-worktree'")
    (repo / "train.py").write_text(text)
    env = {**server.client_env(home=tmp_path / "alice"), "TUNEHOUSE_ACCESS_KEY": key.access_key,
           "TUNEHOUSE_SECRET_KEY": key.secret_key, "PYTHONPATH": str(REPO_ROOT)}
    local = subprocess.run([sys.executable, "train.py", "--lr", "0.5"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    with HttpStore(server.url, key.access_key, key.secret_key) as store:
        base = store.tasks.list_tasks(TaskQuery(project=project)).tasks[0]
        assert base.status is TaskStatus.completed
        clone = store.tasks.clone_task(base.id, name="lr 2.0")
        store.tasks.set_parameters(clone.id, [Parameter(section="Args", name="lr", value="2.0")])
        queue = unique("q")
        store.queues.enqueue(clone.id, queue)
        start_agent(server, "--queue", queue, "--cpu-only")
        done = wait_for(store, clone.id, timeout=120)
        assert done.status is TaskStatus.completed, (done.status_reason, done.status_message)
        assert done.user == alice and done.attempt == 1
        summaries = {s.series: s for s in store.events.get_metric_summaries(clone.id)}
        assert summaries["train"].last == 6.0  # lr 2.0 * 3 steps, not 0.5 * 3
        lines = console(store, clone.id)
        assert "step 2 lr 2.0 version edited-in-worktree" in lines
        assert any(line.startswith("tunehouse agent") and "attempt 1" in line
                   for line in lines)
        assert all(line.count("step") <= 1 for line in lines)
    # the task ran with a key of its owner made for the attempt, revoked at its end (just
    # after the final status is written, so it may take a moment)
    with HttpAccounts(server.url, server.access_key, server.secret_key) as admin:
        def agent_keys() -> list[ApiKey]:
            return [k for k in admin.keys.list_api_keys(alice)
                    if k.description.startswith("agent ")]

        keys = wait_until(lambda: [k for k in agent_keys() if k.revoked], 20,
                          "the attempt's key to be revoked", seen=agent_keys)
        assert len(agent_keys()) == 1
    assert len(keys) == 1 and clone.id in keys[0].description


def test_four_agents_run_two_hundred_tasks_exactly_once(
        server: ServerProcess, start_agent: StartAgent) -> None:
    queue = unique("many")
    store = server.store()
    try:
        ids = [script_task(store, "print('ran')", name=f"noop-{i}") for i in range(200)]
        for task_id in ids:
            store.queues.enqueue(task_id, queue)
        for _ in range(4):
            start_agent(server, "--queue", queue, "--cpu-only")
        done = [wait_for(store, task_id, timeout=300) for task_id in ids]
        assert {task.status for task in done} == {TaskStatus.completed}
        assert {task.attempt for task in done} == {1}
        assert len({task.worker for task in done}) > 1
        for task_id in ids[:20]:
            assert console(store, task_id).count("ran") == 1
        assert store.queues.list_queue_entries(queue) == []
    finally:
        store.close()


def test_retries_then_failed_with_every_attempts_log(
        server: ServerProcess, start_agent: StartAgent) -> None:
    queue = unique("retry")
    store = server.store()
    try:
        task_id = script_task(store, textwrap.dedent("""
            import os, sys
            print("attempt", os.environ["TUNEHOUSE_TASK_ATTEMPT"], "starts")
            print("boom: the data is missing", file=sys.stderr)
            sys.exit(3)
        """))
        store.queues.enqueue(task_id, queue)
        start_agent(server, "--queue", queue, "--cpu-only", "--retries", "2")
        done = wait_for(store, task_id, timeout=120)
        assert done.status is TaskStatus.failed and done.attempt == 3
        assert done.status_reason == "exit code 3: boom: the data is missing"
        assert "boom: the data is missing" in done.status_message
        lines = console(store, task_id)
        assert [line for line in lines if line.endswith("starts")] == [
            "attempt 1 starts", "attempt 2 starts", "attempt 3 starts"]
    finally:
        store.close()


def test_abort_and_time_limit_end_running_tasks(
        server: ServerProcess, start_agent: StartAgent) -> None:
    queue = unique("stop")
    store = server.store()
    forever = "import time\nprint('running', flush=True)\nwhile True:\n    time.sleep(0.05)\n"
    try:
        aborted = script_task(store, forever, name="abort-me")
        limited = script_task(store, forever, name="too-long")
        start_agent(server, "--queue", queue, "--cpu-only", "--slots", "2",
                    "--time-limit", "3", "--grace", "2")
        store.queues.enqueue(aborted, queue)
        store.queues.enqueue(limited, queue)
        wait_for(store, aborted, {TaskStatus.in_progress}, timeout=60)
        store.tasks.request_abort(aborted, "user pressed stop")
        done = wait_for(store, aborted, timeout=30)
        assert done.status is TaskStatus.aborted and done.status_reason == "aborted on request"
        timed = wait_for(store, limited, timeout=60)
        assert timed.status is TaskStatus.failed
        assert timed.status_reason.startswith("time limit of 3 s exceeded")
    finally:
        store.close()


def test_failure_reasons_name_the_problem(
        server: ServerProcess, start_agent: StartAgent) -> None:
    queue = unique("oom")
    store = server.store()
    try:
        oom = script_task(store, "raise RuntimeError('CUDA out of memory. Tried to allocate "
                                 "2.00 GiB')\n", name="cuda-oom")
        killed = script_task(store, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
                             name="sigkill")
        no_code = store.tasks.create_task(TaskCreate(project="agent-tests", name="nothing")).id
        for task_id in (oom, killed, no_code):
            store.queues.enqueue(task_id, queue)
        start_agent(server, "--queue", queue, "--cpu-only")
        reasons = {task_id: wait_for(store, task_id, timeout=60).status_reason
                   for task_id in (oom, killed, no_code)}
        assert reasons[oom].startswith("exit code 1 (out of GPU memory): RuntimeError: CUDA")
        assert reasons[killed].startswith("killed by SIGKILL (out of host memory?")
        assert "no recorded entry point" in reasons[no_code]
    finally:
        store.close()


def test_agent_environment_reaches_the_task(
        server: ServerProcess, start_agent: StartAgent) -> None:
    queue = unique("env")
    store = server.store()
    try:
        task_id = script_task(store, textwrap.dedent("""
            import os
            for name in ("TUNEHOUSE_TASK_ID", "TUNEHOUSE_TASK_ATTEMPT", "CUDA_VISIBLE_DEVICES"):
                print(name, "=", repr(os.environ.get(name)))
        """))
        store.queues.enqueue(task_id, queue)
        start_agent(server, "--queue", queue, "--cpu-only")
        assert wait_for(store, task_id).status is TaskStatus.completed
        lines = console(store, task_id)
        assert f"TUNEHOUSE_TASK_ID = {task_id!r}" in lines
        assert "TUNEHOUSE_TASK_ATTEMPT = '1'" in lines
        assert "CUDA_VISIBLE_DEVICES = ''" in lines
        assert os.environ.get("TUNEHOUSE_TASK_ID") is None
    finally:
        store.close()
