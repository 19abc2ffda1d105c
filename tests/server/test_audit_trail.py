"""The audit trail through a real server (SQLite and PostgreSQL): every covered action
leaves exactly one entry, written with its change (a failed change leaves none), naming
the user it was made as, the actor acting for it, the client address, the target and the
details; nobody can write or delete an entry over HTTP; admins read it (filters, pages,
the CLI's list and JSON lines export); agent accounts act for task owners."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.cli import CliResult, run_cli
from tests.helpers.server import ServerProcess, clean_env
from tests.helpers.wait import exited_check, wait_until
from tunehouse.client.accounts import HttpAccounts
from tunehouse.client.http import HttpStore
from tunehouse.errors import Conflict, InvalidTransition, NotFound, PermissionDenied
from tunehouse.store.records import (
    ModelCreate,
    ModelUpdate,
    Parameter,
    Script,
    StatusChange,
    Task,
    TaskCreate,
    TaskStatus,
    TaskType,
)

CLIENT = "127.0.0.1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_user(api: httpx.Client, agent: bool = False) -> tuple[str, str, tuple[str, str]]:
    """A fresh user: (name, password, (access key, secret))."""
    name, password = unique("au"), "pw-" + uuid.uuid4().hex
    created = api.post("/users", json={"name": name, "password": password, "agent": agent})
    assert created.status_code == 201, created.text
    key = api.post("/keys", json={"user": name, "description": "test"}).json()
    return name, password, (key["access_key"], key["secret_key"])


def entries(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Audit entries (admin's view), oldest first."""
    response = api.get("/audit", params={"oldest_first": "true", "limit": 10_000, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def of_task(api: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    return entries(api, target_type="task", target_id=task_id)


def actions(events: list[dict[str, Any]]) -> list[str]:
    return [event["action"] for event in events]


def ended(task: Task) -> Task | None:
    """``task`` once it is completed, failed or aborted (else None)."""
    return task if task.status in (TaskStatus.completed, TaskStatus.failed,
                                   TaskStatus.aborted) else None


@pytest.fixture
def shared_api(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """An admin's client on the session's SQLite server (tests that run a CLI or an agent
    subprocess run on it alone)."""
    with httpx.Client(base_url=f"{shared_server.url}/api/v1", timeout=60,
                      auth=(shared_server.access_key, shared_server.secret_key)) as client:
        yield client


@pytest.fixture
def user_store(api: httpx.Client, server: ServerProcess) -> Iterator[HttpStore]:
    """An HttpStore of a fresh plain user."""
    _, _, (access, secret) = new_user(api)
    with HttpStore(server.url, access, secret) as store:
        yield store


# ---------------------------------------------------------------- tasks
def test_task_actions_leave_one_entry_each(api: httpx.Client, user_store: HttpStore) -> None:
    tasks, name = user_store.tasks, user_store.user
    task = tasks.create_task(TaskCreate(project=unique("audit"), name="t"))
    tasks.set_parameters(task.id, [Parameter(section="Args", name="lr", value="0.1"),
                                   Parameter(section="Args", name="epochs", value="3")])
    tasks.set_parameters(task.id, [Parameter(section="Args", name="lr", value="0.1")])  # same
    tasks.set_parameters(task.id, [Parameter(section="Args", name="lr", value="0.2")])
    tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
    tasks.change_status(task.id, StatusChange(status=TaskStatus.completed, reason="done"))
    tasks.change_status(task.id, StatusChange(status=TaskStatus.completed,
                                              keep_if_same=True))  # no change
    tasks.mark_alive(task.id)  # not audited
    queued = tasks.create_task(TaskCreate(project=task.project, name="q"))
    user_store.queues.enqueue(queued.id, unique("queue"), priority=3)
    tasks.request_abort(queued.id, reason="not needed")
    tasks.delete_task(task.id)

    events = of_task(api, task.id)
    assert actions(events) == ["task.create", "task.parameters", "task.parameters",
                               "task.status", "task.status", "task.delete"]
    for event in events:
        assert (event["user"], event["actor"], event["client"]) == (name, None, CLIENT)
        assert (event["target_type"], event["target_id"]) == ("task", task.id)
    create, first, second, start, end, delete = (e["details"] for e in events)
    assert create == {"project": task.project, "name": "t", "type": "training",
                      "parent_id": None}
    assert first == {"changed": {"Args/lr": {"before": None, "after": "0.1"},
                                 "Args/epochs": {"before": None, "after": "3"}},
                     "count": 2, "truncated": False}
    assert second["changed"] == {"Args/lr": {"before": "0.1", "after": "0.2"}}
    assert start["before"] == "created" and start["after"] == "in_progress"
    assert start["attempt"] == 1
    assert (end["before"], end["after"], end["reason"]) == ("in_progress", "completed", "done")
    assert delete["status"] == "completed" and delete["name"] == "t"
    # the deleted task's history stays
    with pytest.raises(NotFound):
        tasks.get_task(task.id)

    queue_events = of_task(api, queued.id)
    assert actions(queue_events) == ["task.create", "task.enqueue", "task.abort"]
    enqueue, abort = queue_events[1]["details"], queue_events[2]["details"]
    assert enqueue["priority"] == 3 and enqueue["before"] == "created"
    assert abort == {"before": "queued", "after": "aborted", "requested": False,
                     "reason": "not needed"}


def test_failed_changes_leave_no_entry(api: httpx.Client, user_store: HttpStore) -> None:
    tasks = user_store.tasks
    task = tasks.create_task(TaskCreate(project=unique("audit"), name="t"))
    with pytest.raises(InvalidTransition):
        tasks.change_status(task.id, StatusChange(status=TaskStatus.completed))
    tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
    with pytest.raises(Conflict):
        tasks.delete_task(task.id)  # running
    tasks.change_status(task.id, StatusChange(status=TaskStatus.failed))
    with pytest.raises(InvalidTransition):
        tasks.request_abort(task.id)  # already ended
    assert actions(of_task(api, task.id)) == ["task.create", "task.status", "task.status"]
    missing = uuid.uuid4().hex
    with pytest.raises(NotFound):
        tasks.set_parameters(missing, [Parameter(name="x", value="1")])
    with pytest.raises(NotFound):
        tasks.change_status(missing, StatusChange(status=TaskStatus.in_progress))
    assert of_task(api, missing) == []


def test_a_search_starts_and_stops(api: httpx.Client, user_store: HttpStore) -> None:
    search = user_store.tasks.create_task(TaskCreate(project=unique("audit"), name="search",
                                                     type=TaskType.optimizer))
    user_store.tasks.request_abort(search.id)
    events = of_task(api, search.id)
    assert actions(events) == ["search.start", "search.stop"]
    assert events[0]["details"]["type"] == "optimizer"


def test_running_task_abort_is_one_request(api: httpx.Client, server: ServerProcess) -> None:
    """An abort of a running task under an agent only asks it to stop: one ``task.abort``
    (requested); the status change that follows is its own entry."""
    with server.store() as admin:
        task = admin.tasks.create_task(TaskCreate(project=unique("audit"), name="t"))
        queue = unique("q")
        admin.queues.enqueue(task.id, queue)
        claimed = admin.queues.claim_task([queue], worker=unique("w"))
        assert claimed is not None and claimed.id == task.id
        admin.tasks.request_abort(task.id, reason="stop it")
        admin.tasks.change_status(task.id, StatusChange(status=TaskStatus.aborted))
    events = of_task(api, task.id)
    assert actions(events) == ["task.create", "task.enqueue", "task.status", "task.abort",
                               "task.status"]
    claim = events[2]["details"]
    assert (claim["before"], claim["after"], claim["worker"]) == ("queued", "in_progress",
                                                                   claimed.worker)
    assert events[3]["details"]["requested"] is True
    assert events[4]["details"]["after"] == "aborted"


# ---------------------------------------------------------------- models
def test_model_publish_promote_and_rollback(api: httpx.Client, server: ServerProcess) -> None:
    name = unique("audit-model")
    with server.store() as store:
        blob = store.artifacts.put_blob(io.BytesIO(b"weights " + name.encode()))
        v1 = store.models.create_model(ModelCreate(name=name, sha256=blob.sha256,
                                                   size=blob.size))
        store.models.create_model(ModelCreate(name=name, sha256=blob.sha256, size=blob.size))
        store.models.update_model(v1.id, ModelUpdate(published=True))
        store.models.update_model(v1.id, ModelUpdate(published=True))  # no change
        store.models.set_model_stage(name, "production", 2)
        store.models.set_model_stage(name, "production", 1)
        with pytest.raises(NotFound):
            store.models.set_model_stage(name, "production", 9)
    events = entries(api, target_type="model", target_id=name)
    assert actions(events) == ["model.publish", "model.stage", "model.stage"]
    assert events[0]["details"] == {"version": 1, "model_id": v1.id}
    assert events[1]["details"] == {"stage": "production", "from": None, "to": 2,
                                    "kind": "promote"}
    assert events[2]["details"] == {"stage": "production", "from": 2, "to": 1,
                                    "kind": "rollback"}
    assert all(e["client"] == CLIENT and e["actor"] is None for e in events)


# ---------------------------------------------------------------- accounts
def test_logins_keys_and_users(api: httpx.Client, anon: httpx.Client,
                               server: ServerProcess) -> None:
    name, password, (access, _) = new_user(api)
    admin = server.admin_user
    assert anon.post("/auth/login", json={"username": name, "password": password}
                     ).status_code == 200
    assert anon.post("/auth/login", json={"username": name, "password": "wrong"}
                     ).status_code == 401
    ghost = unique("ghost")
    assert anon.post("/auth/login", json={"username": ghost, "password": "x"}
                     ).status_code == 401
    logins = entries(api, target_type="user", target_id=name, action="auth.*")
    assert [(e["action"], e["user"], e["client"]) for e in logins] == [
        ("auth.login", name, CLIENT), ("auth.login_failed", name, CLIENT)]
    assert logins[1]["details"]["known_user"] is True
    ghosts = entries(api, target_type="user", target_id=ghost)
    assert actions(ghosts) == ["auth.login_failed"]
    assert ghosts[0]["details"]["known_user"] is False and ghosts[0]["user"] == ghost

    assert api.post(f"/keys/{access}/revoke").status_code == 200
    assert api.patch(f"/users/{name}", json={"disabled": True}).status_code == 200
    assert api.post(f"/keys/{unique('THNOPE')}/revoke").status_code == 404
    user_events = entries(api, target_type="user", target_id=name, action="user.*")
    assert [(e["action"], e["user"], e["client"]) for e in user_events] == [
        ("user.create", admin, CLIENT), ("user.disable", admin, CLIENT)]
    key_events = entries(api, target_type="api_key", target_id=access)
    assert actions(key_events) == ["key.create", "key.revoke"]
    assert all(e["details"]["user"] == name and e["user"] == admin for e in key_events)


# ---------------------------------------------------------------- acting for others
def test_acting_for_another_user_needs_an_admin_or_an_agent_running_its_task(
        api: httpx.Client, anon: httpx.Client, server: ServerProcess) -> None:
    alice, _, alice_key = new_user(api)
    plain, _, plain_key = new_user(api)
    agent, _, agent_key = new_user(api, agent=True)
    refused = anon.get("/tasks", auth=plain_key, headers={"X-Tunehouse-User": alice})
    assert refused.status_code == 403
    assert "only admins and agent accounts may act for another user" in refused.text
    with HttpStore(server.url, *alice_key) as as_alice:
        task = as_alice.tasks.create_task(TaskCreate(project=unique("audit"), name="for alice"))
        queue = unique("q-audit")
        as_alice.queues.enqueue(task.id, queue)
    with HttpStore(server.url, *agent_key) as store:
        # an agent account acts for a task's owner only within an attempt it runs
        with pytest.raises(PermissionDenied, match="attempt it runs"):
            store.with_user(alice).tasks.get_task(task.id)
        claimed = store.queues.claim_task([queue], unique("audit-worker"))
        assert claimed is not None and claimed.id == task.id
        acting = store.with_fence(task.id, claimed.attempt).with_user(alice)
        acting.tasks.set_parameters(task.id, [Parameter(section="Args", name="lr",
                                                        value="0.1")])
    events = of_task(api, task.id)
    assert [(e["action"], e["user"], e["actor"], e["client"]) for e in events] == [
        ("task.create", alice, None, CLIENT), ("task.enqueue", alice, None, CLIENT),
        ("task.status", agent, None, CLIENT), ("task.parameters", alice, agent, CLIENT)]
    # an agent account mints keys for the owners of the attempts it runs (bound to them)
    # and may revoke those, but no other key
    with HttpAccounts(server.url, *agent_key) as client:
        key = client.keys.create_api_key(alice, description="attempt",
                                         for_attempt=(task.id, claimed.attempt))
        with pytest.raises(PermissionDenied):
            client.keys.create_api_key(alice, description="lasting")
        with pytest.raises(PermissionDenied):
            client.keys.create_api_key(server.admin_user)
        with pytest.raises(PermissionDenied):
            client.keys.revoke_api_key(alice_key[0])
        assert client.keys.revoke_api_key(key.access_key).revoked
        with pytest.raises(PermissionDenied):
            client.audit.list_audit_events()
    made = entries(api, target_type="api_key", target_id=key.access_key)
    assert [(e["action"], e["user"], e["details"]["user"]) for e in made] == [
        ("key.create", agent, alice), ("key.revoke", agent, alice)]
    # a plain user may not make keys for others
    assert anon.post("/keys", json={"user": alice}, auth=plain_key).status_code == 403
    assert plain != alice


# ---------------------------------------------------------------- reading
def test_the_log_is_read_only_and_for_admins(api: httpx.Client, anon: httpx.Client) -> None:
    _, _, key = new_user(api)
    assert anon.get("/audit", auth=key).status_code == 403
    document = anon.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        if "audit" in path:
            assert set(operations) == {"get"}, (path, set(operations))
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert api.request(method, "/audit").status_code in (404, 405)
        assert api.request(method, "/audit/1").status_code in (404, 405)


def test_filters_and_pages(api: httpx.Client, server: ServerProcess) -> None:
    name, _, key = new_user(api)
    with HttpStore(server.url, *key) as store:
        ids = [store.tasks.create_task(TaskCreate(project=unique("audit"), name=f"t{i}")).id
               for i in range(5)]
        store.tasks.request_abort(ids[0])
    mine = entries(api, user=name)
    assert actions(mine) == ["task.create"] * 5 + ["task.abort"]
    assert actions(entries(api, user=name, action="task.abort")) == ["task.abort"]
    assert len(entries(api, user=name, action="task.*")) == 6
    assert entries(api, user=name, actor=server.admin_user) == []
    newest = api.get("/audit", params={"user": name, "limit": 2}).json()
    assert [e["id"] for e in newest] == [mine[5]["id"], mine[4]["id"]]
    following = api.get("/audit", params={"user": name, "limit": 2,
                                          "after_id": newest[-1]["id"]}).json()
    assert [e["id"] for e in following] == [mine[3]["id"], mine[2]["id"]]
    oldest = entries(api, user=name, limit=2, after_id=mine[1]["id"])
    assert [e["id"] for e in oldest] == [mine[2]["id"], mine[3]["id"]]
    first = datetime.fromisoformat(mine[0]["created"])
    assert len(entries(api, user=name, since=first.isoformat())) == 6
    assert entries(api, user=name, until=first.isoformat()) == []
    later = (first + timedelta(days=1)).isoformat()
    assert entries(api, user=name, since=later) == []


# ---------------------------------------------------------------- the CLI
@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """``tunehouse *args`` in-process with the environment ``env``."""

    def run(*args: str, env: dict[str, str]) -> CliResult:
        return run_cli(*args, env=env)

    return run


def test_cli_lists_and_exports_through_the_server(shared_api: httpx.Client,
                                                  shared_server: ServerProcess,
                                                  tmp_path: Path,
                                                  cli: Callable[..., CliResult]) -> None:
    api = shared_api
    name, _, key = new_user(api)
    with HttpStore(shared_server.url, *key) as store:
        task = store.tasks.create_task(TaskCreate(project=unique("audit"), name="cli"))
        store.tasks.set_parameters(task.id, [Parameter(name="x", value="1")])
    env = shared_server.client_env(home=tmp_path / "client")
    listed = cli("audit", "list", "--target", f"task:{task.id}", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "task.create" in listed.stdout and "task.parameters" in listed.stdout
    assert name in listed.stdout and CLIENT in listed.stdout
    out = tmp_path / "audit.jsonl"
    exported = cli("audit", "export", "--user", name, "--since", "1h", "--out", str(out),
                    env=env)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["task.create", "task.parameters"]
    assert set(lines[0]) == {"id", "user", "actor", "client", "action", "target_type",
                             "target_id", "details", "created"}
    assert lines[0]["id"] < lines[1]["id"]
    _, _, plain = new_user(api)
    refused = cli("audit", "list", env={**env, "TUNEHOUSE_ACCESS_KEY": plain[0],
                                         "TUNEHOUSE_SECRET_KEY": plain[1]})
    assert refused.returncode != 0 and "admin" in refused.stderr


def test_cli_works_on_the_database(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    from tunehouse.store.sql import SqlStore

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with SqlStore(url, tmp_path / "artifacts", user="tester") as store:
        ids = [store.tasks.create_task(TaskCreate(project="p", name=f"t{i}")).id
               for i in range(3)]
        store.tasks.delete_task(ids[0])
    env = clean_env(TUNEHOUSE_HOME=str(tmp_path / "home"))
    listed = cli("audit", "list", "--db", url, "--action", "task.delete", env=env)
    assert listed.returncode == 0, listed.stderr
    assert ids[0] in listed.stdout and ids[1] not in listed.stdout
    exported = cli("audit", "export", "--db", url, "--out", "-", env=env)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(e["action"], e["target_id"]) for e in lines] == [
        *(("task.create", task_id) for task_id in ids), ("task.delete", ids[0])]
    assert {e["user"] for e in lines} == {"tester"}
    assert {e["client"] for e in lines} == {None}
    bad = cli("audit", "list", "--db", url, "--since", "yesterday", env=env)
    assert bad.returncode == 2 and "--since" in bad.stderr


# ---------------------------------------------------------------- an agent account
def test_an_agent_account_runs_a_task_end_to_end(shared_api: httpx.Client,
                                                 shared_server: ServerProcess,
                                                 tmp_path: Path) -> None:
    """A non-admin agent account (``users add --agent``) runs alice's task as alice:
    its writes are recorded as alice's with the agent as actor, and alice's task process
    gets a key of alice made (and revoked) by the agent."""
    server, api = shared_server, shared_api
    alice, _, alice_key = new_user(api)
    agent, _, agent_key = new_user(api, agent=True)
    queue = unique("agentq")
    with HttpStore(server.url, *alice_key) as store:
        task = store.tasks.create_task(TaskCreate(project=unique("audit"), name="run"))
        text = "import os\nprint('key', os.environ['TUNEHOUSE_ACCESS_KEY'])\n"
        store.tasks.set_script(task.id, Script(entry_point="task.py", script_text=text,
                                               argv=["task.py"]))
        store.queues.enqueue(task.id, queue)
        env = {**server.client_env(home=tmp_path / "agent-home"),
               "TUNEHOUSE_ACCESS_KEY": agent_key[0], "TUNEHOUSE_SECRET_KEY": agent_key[1]}
        log_path = tmp_path / "agent.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tunehouse", "agent", "--name", unique("agent"),
                 "--queue", queue, "--cpu-only"], env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path)
        try:
            done = wait_until(lambda: ended(store.tasks.get_task(task.id)), 120,
                              f"task {task.id} to end", check=exited_check(proc, "the agent"),
                              seen=log_path.read_text)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        assert done.status is TaskStatus.completed, (done.status_reason, log_path.read_text())
        lines = [line.text for line in store.events.get_logs(task.id, limit=1000)]
    assert "runs as the agent's user" not in log_path.read_text()
    events = of_task(api, task.id)
    assert [(e["action"], e["user"], e["actor"]) for e in events] == [
        ("task.create", alice, None), ("task.enqueue", alice, None),
        ("task.status", agent, None),  # the claim, by the agent itself
        ("task.status", alice, agent)]  # completed, written for alice
    assert events[-1]["details"]["after"] == "completed"
    keys = [e for e in entries(api, user=agent, target_type="api_key")
            if e["details"]["user"] == alice]
    assert actions(keys) == ["key.create", "key.revoke"]
    # the task's process held the key the agent made for alice, not the agent's own
    assert f"key {keys[0]['target_id']}" in lines
