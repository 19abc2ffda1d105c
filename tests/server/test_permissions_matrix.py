"""Every operation of the server's OpenAPI document × every kind of caller, against the
permission rule written for it here.

A real server (SQLite, ``default_project_role`` ``none``, so a user without a role on a
project has no access to it) holds project P with a task, an artifact, a model and a
queue. Each operation is called by each persona with its path parameters pointing at P's
records (destructive operations at fresh ones, made per call) and a valid body, and the
answer must match :data:`RULES`:

* ``public``: never 401 or 403, even without credentials;
* anonymous callers, disabled users and revoked keys: 401 on everything else;
* at or above the rule: anything but 401 and 403 (a 404 or 409 is past the checks);
* below it: 403, except for blobs: 404 (a blob one may not read does not exist).

An operation without a rule fails the test, so a new route must say who may call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.server import ServerProcess, running_server

#: Who may call each operation (operationId = the contract's name):
#: ``public`` anyone; ``authenticated`` any valid user; ``viewer``/``editor``/``owner`` that
#: role on the project of the record named (P here); ``blob`` viewer of a project referring
#: to the blob, else 404; ``self`` the user named in the path, or an admin; ``agent`` an
#: agent account or an admin; ``admin`` admins only.
RULES: dict[str, str] = {
    # server: health, sign-in; the account areas
    "server.health": "public",
    "server.login": "public",
    "server.logout": "authenticated",
    "server.whoami": "authenticated",
    "users.create_user": "admin",
    "users.list_users": "admin",
    "users.get_user": "self",
    "users.set_user_disabled": "admin",
    "keys.create_api_key": "authenticated",  # for oneself
    "keys.list_api_keys": "authenticated",  # one's own
    "keys.revoke_api_key": "self",  # the key's owner
    "audit.list_audit_events": "admin",
    "throttle.list_lockouts": "admin",
    "throttle.clear_lockout": "admin",
    "preferences.get_preference": "authenticated",  # one's own
    "preferences.set_preference": "authenticated",
    "roles.list_access": "viewer",
    "roles.grant_role": "owner",
    "roles.revoke_role": "owner",
    # tasks
    "tasks.get_or_create_project": "viewer",  # P exists: reading it (new ones: anyone)
    "tasks.list_projects": "authenticated",  # lists what one may read
    "tasks.get_project": "viewer",
    "tasks.create_task": "editor",  # in existing P (a new project: anyone)
    "tasks.list_tasks": "authenticated",  # lists what one may read
    "tasks.get_task": "viewer",
    "tasks.update_task": "editor",
    "tasks.delete_task": "owner",
    "tasks.change_status": "editor",
    "tasks.request_abort": "editor",
    "tasks.clone_task": "editor",
    "tasks.mark_alive": "editor",
    "tasks.wait_for_children": "viewer",
    "tasks.reap_lost_tasks": "admin",
    "tasks.set_parameters": "editor",
    "tasks.get_parameters": "viewer",
    "tasks.set_configuration": "editor",
    "tasks.get_configurations": "viewer",
    "tasks.set_script": "editor",
    "tasks.get_script": "viewer",
    "tasks.set_environment": "editor",
    "tasks.get_environment": "viewer",
    # events
    "events.add_events": "editor",
    "events.get_metric_summaries": "viewer",
    "events.get_scalars": "viewer",
    "events.get_logs": "viewer",
    # artifacts
    "artifacts.put_blob": "authenticated",
    "artifacts.open_blob": "blob",
    "artifacts.blob_url": "blob",
    "artifacts.plan_upload": "authenticated",
    "artifacts.complete_upload": "authenticated",
    "artifacts.add_artifact": "editor",
    "artifacts.list_artifacts": "viewer",
    # models
    "models.create_model": "editor",
    "models.list_models": "authenticated",  # lists what one may read
    "models.find_model": "viewer",
    "models.set_model_stage": "editor",
    "models.get_model": "viewer",
    "models.update_model": "editor",
    # queues
    "queues.get_or_create_queue": "authenticated",
    "queues.list_queues": "authenticated",
    "queues.delete_queue": "admin",
    "queues.claim_task": "agent",
    "queues.reap_expired_leases": "agent",
    "queues.list_queue_entries": "authenticated",
    "queues.enqueue": "editor",
    "queues.dequeue": "editor",
    "queues.move_queued_task": "editor",
    "queues.heartbeat": "agent",
    "queues.list_workers": "authenticated",
}

ROLE_RANK = {"viewer": 1, "editor": 2, "owner": 3}
#: Persona -> (role on P, admin, agent); None: not authenticated.
PERSONAS: dict[str, tuple[int, bool, bool] | None] = {
    "anonymous": None,
    "viewer": (1, False, False),
    "editor": (2, False, False),
    "owner": (3, False, False),  # P's creator
    "other": (0, False, False),  # owns another project, nothing on P
    "admin": (3, True, False),
    "agent": (0, False, True),  # an agent account without a role on P
    "disabled": None,  # a valid key of a disabled user
    "revoked": None,  # a revoked key of an enabled user
}


def allowed(rule: str, persona: str) -> bool:
    """Whether ``persona`` passes ``rule`` (see :data:`RULES`)."""
    if rule == "public":
        return True
    caps = PERSONAS[persona]
    if caps is None:
        return False
    role, admin, agent = caps
    if rule == "authenticated":
        return True
    if rule == "admin":
        return admin
    if rule == "agent":
        return admin or agent
    if rule == "self":
        return admin or persona == "owner"
    return role >= ROLE_RANK["viewer" if rule == "blob" else rule]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class World:
    """The server, a client per persona, and P's records."""

    server: ServerProcess
    clients: dict[str, httpx.Client]
    names: dict[str, str]
    passwords: dict[str, str]
    project: str
    task: str
    model_id: str
    model_name: str
    blob: str
    blob_size: int
    queue: str
    claim_queue: str
    doc: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        client = self.clients[who]
        try:
            return client.request(method, path, **kwargs)
        finally:
            client.cookies.clear()  # a sign-in's cookie must not authenticate what follows

    def ok(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(who, method, path, **kwargs)
        assert response.status_code < 300, (method, path, response.text)
        return response.json() if response.content else None

    def fresh_task(self) -> str:
        task = self.ok("owner", "POST", "/tasks", json={"project": self.project,
                                                         "name": unique("fresh")})
        return str(task["id"])

    def fresh_owner_key(self) -> str:
        return str(self.ok("admin", "POST", "/keys",
                           json={"user": self.names["owner"]})["access_key"])

    def fresh_queue(self) -> str:
        return str(self.ok("admin", "POST", "/queues", json={"name": unique("q")})["name"])


def _client(server: ServerProcess, auth: tuple[str, str] | None) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", auth=auth, timeout=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home: Path = tmp_path_factory.mktemp("matrix") / "home"
    home.mkdir()
    (home / "config.json").write_text('{"default_project_role": "none"}')
    with running_server(home) as server:
        admin = _client(server, (server.access_key, server.secret_key))
        clients = {"admin": admin, "anonymous": _client(server, None)}
        names = {"admin": server.admin_user}
        passwords = {}
        keys = {}
        for persona in ("viewer", "editor", "owner", "other", "agent", "disabled",
                        "revoked", "bystander"):
            name, password = unique(persona), uuid.uuid4().hex
            made = admin.post("/users", json={"name": name, "password": password,
                                              "agent": persona == "agent"})
            assert made.status_code == 201, made.text
            key = admin.post("/keys", json={"user": name}).json()
            names[persona], passwords[persona] = name, password
            keys[persona] = key["access_key"], key["secret_key"]
            clients[persona] = _client(server, (key["access_key"], key["secret_key"]))
            if persona == "revoked":
                admin.post(f"/keys/{key['access_key']}/revoke").raise_for_status()
        project = unique("team") + "/vision"
        world = World(server=server, clients=clients, names=names, passwords=passwords,
                      project=project, task="", model_id="", model_name=unique("model"),
                      blob="", blob_size=0, queue="", claim_queue="", keys=keys)
        world.ok("owner", "POST", "/projects", json={"name": project})
        world.ok("other", "POST", "/projects", json={"name": unique("elsewhere")})
        for persona in ("viewer", "editor"):
            world.ok("owner", "PUT", f"/access/{project}/{names[persona]}",
                     json={"role": persona})
        world.task = world.fresh_task()
        content = uuid.uuid4().bytes * 8
        blob = world.ok("owner", "PUT", "/blobs", content=content,
                        headers={"Content-Type": "application/octet-stream"})
        world.blob, world.blob_size = blob["sha256"], blob["size"]
        world.ok("owner", "POST", f"/tasks/{world.task}/artifacts",
                 json={"name": "weights", "sha256": world.blob, "size": world.blob_size})
        world.model_id = world.ok("owner", "POST", "/models", json={
            "name": world.model_name, "project": project, "sha256": world.blob,
            "size": world.blob_size})["id"]
        world.queue, world.claim_queue = world.fresh_queue(), world.fresh_queue()
        admin.patch(f"/users/{names['disabled']}", json={"disabled": True}).raise_for_status()
        world.doc = admin.get("/openapi.json").json()
        try:
            yield world
        finally:
            for client in clients.values():
                client.close()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(operationId, method, path relative to the API prefix) of every operation."""
    for path, methods in doc["paths"].items():
        for method, spec in methods.items():
            yield spec["operationId"], method.upper(), path.removeprefix("/api/v1")


def request_for(world: World, op: str, persona: str, path: str) -> dict[str, Any]:
    """Path filled in and the request's body and query for ``op`` called by ``persona``:
    minimal valid input aimed at P's records (fresh ones where the call destroys)."""
    fresh = {"tasks.delete_task", "tasks.request_abort", "queues.enqueue"}
    values: dict[str, Callable[[], str]] = {
        "task_id": (world.fresh_task if op in fresh else lambda: world.task),
        "name_or_id": lambda: world.project,
        "project": lambda: world.project,
        "user": lambda: world.names["bystander"],
        "model_id": lambda: world.model_id,
        "sha256": lambda: world.blob,
        "queue": world.fresh_queue if op == "queues.delete_queue" else lambda: world.queue,
        "name": lambda: world.names["owner" if op == "users.get_user" else "bystander"],
        "access_key": world.fresh_owner_key,
        "key": lambda: "user:nobody" if op == "throttle.clear_lockout" else "matrix.pref",
    }
    for name, value in values.items():
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", value())
    assert "{" not in path, f"{op}: no value for a path parameter of {path}"
    tag = unique(persona)
    bodies: dict[str, Any] = {
        "server.login": {"username": world.names["owner"],
                         "password": world.passwords["owner"]},
        "users.create_user": {"name": tag, "password": "pw"},
        "users.set_user_disabled": {"disabled": False},
        "keys.create_api_key": {},
        "preferences.set_preference": {"value": 1},
        "roles.grant_role": {"role": "viewer"},
        "tasks.get_or_create_project": {"name": world.project},
        "tasks.create_task": {"project": world.project, "name": tag},
        "tasks.update_task": {"comment": tag},
        "tasks.change_status": {"status": "created"},
        "tasks.request_abort": {},
        "tasks.clone_task": {},
        "tasks.reap_lost_tasks": {},
        "tasks.set_parameters": [{"section": "General", "name": "lr", "value": "0.1"}],
        "tasks.set_configuration": {"name": "cfg", "text": "a: 1"},
        "tasks.set_script": {},
        "tasks.set_environment": {},
        "events.add_events": {"batch_id": uuid.uuid4().hex, "task_id": world.task,
                              "scalars": [["loss", "train", 1, 0.5, 1.0]]},
        "artifacts.add_artifact": {"name": tag, "sha256": world.blob,
                                   "size": world.blob_size},
        "artifacts.plan_upload": {"sha256": world.blob, "size": world.blob_size},
        "artifacts.complete_upload": {"sha256": world.blob, "size": world.blob_size,
                                      "upload_id": tag, "parts": [{"number": 1, "etag": tag}]},
        "models.create_model": {"name": world.model_name, "project": world.project,
                                "sha256": world.blob, "size": world.blob_size},
        "models.set_model_stage": {"name": world.model_name, "stage": "staging",
                                   "version": 1},
        "models.update_model": {"comment": tag},
        "queues.get_or_create_queue": {"name": tag},
        "queues.claim_task": {"queues": [world.claim_queue], "worker": tag},
        "queues.reap_expired_leases": {},
        "queues.enqueue": {"queue": world.queue},
        "queues.move_queued_task": {"position": "front"},
        "queues.heartbeat": {"name": tag, "queues": [world.claim_queue]},
    }
    query = {"models.find_model": {"name": world.model_name}}
    request: dict[str, Any] = {"path": path, "params": query.get(op, {})}
    if op == "artifacts.put_blob":
        request.update(content=uuid.uuid4().bytes,
                       headers={"Content-Type": "application/octet-stream"})
    elif op in bodies:
        request["json"] = bodies[op]
    return request


def test_every_operation_has_a_permission_rule(world: World) -> None:
    served = {op for op, _, _ in operations(world.doc)}
    missing = sorted(served - set(RULES))
    assert not missing, "\n".join(f"no permission rule for {op}: add one to RULES in "
                                  "tests/server/test_permissions_matrix.py" for op in missing)
    assert not sorted(set(RULES) - served), "rules of operations the server no longer has"


def test_every_operation_answers_each_persona_as_its_rule_says(world: World) -> None:
    wrong: list[str] = []
    for op, method, template in operations(world.doc):
        rule = RULES.get(op)
        if rule is None:
            continue  # reported by test_every_operation_has_a_permission_rule
        for persona in PERSONAS:
            request = request_for(world, op, persona, template)
            response = world.call(persona, method, request.pop("path"), **request)
            status = response.status_code
            if rule == "public":
                good = status not in (401, 403)
                expected = "not 401/403"
            elif PERSONAS[persona] is None:
                good, expected = status == 401, "401"
            elif allowed(rule, persona):
                good = status not in (401, 403) and status < 500
                expected = "allowed (not 401/403/5xx)"
            else:
                denial = 404 if rule == "blob" else 403
                good, expected = status == denial, str(denial)
            if not good:
                wrong.append(f"{op} [{rule}] as {persona}: {status}, expected {expected}: "
                             f"{response.text[:200]}")
    assert not wrong, f"{len(wrong)} answers break their rule:\n" + "\n".join(wrong)


def test_listings_show_only_readable_projects(world: World) -> None:
    project = world.project
    for persona, sees in (("other", False), ("agent", False), ("viewer", True),
                          ("admin", True)):
        names = {p["name"] for p in world.ok(persona, "GET", "/projects")}
        assert (project in names) is sees, persona
        page = world.ok(persona, "GET", "/tasks", params={"project": project})
        assert (page["total"] > 0) is sees, persona
        models = world.ok(persona, "GET", "/models", params={"name": world.model_name})
        assert bool(models) is sees, persona


def test_ui_pages_read_through_the_same_checks(world: World) -> None:
    pages = [f"/tasks/{world.task}", f"/compare?ids={world.task},{world.fresh_task()}"]
    for persona, status in (("other", 403), ("viewer", 200), ("admin", 200)):
        for page in pages:
            answer = world.call(persona, "GET", world.server.url + page)
            assert answer.status_code == status, (persona, page, answer.text[:300])


def test_acting_for_a_user_gets_that_users_roles(world: World) -> None:
    task = world.fresh_task()
    as_viewer = {"X-Tunehouse-User": world.names["viewer"]}
    answer = world.call("admin", "DELETE", f"/tasks/{task}", headers=as_viewer)
    assert answer.status_code == 403 and world.names["viewer"] in answer.text
    # an agent account acting for an admin gets the admin's project roles, not admin rights
    as_admin = {"X-Tunehouse-User": world.names["admin"]}
    answer = world.call("agent", "DELETE", f"/tasks/{task}", headers=as_admin)
    assert answer.status_code == 403, answer.text


def test_an_agent_acts_for_a_user_only_in_an_attempt_it_runs(world: World) -> None:
    """An agent account acts for (and makes keys of) the owner of a task it claimed, within
    that attempt: never for anyone else, nor once the attempt is over."""
    owner = world.names["owner"]
    task = world.fresh_task()
    as_owner = {"X-Tunehouse-User": owner}
    answer = world.call("agent", "GET", f"/tasks/{task}", headers=as_owner)
    assert answer.status_code == 403 and "X-Tunehouse-Fence" in answer.text, answer.text
    queue = unique("q-act")
    world.ok("owner", "POST", f"/tasks/{task}/enqueue", json={"queue": queue})
    claimed = world.ok("agent", "POST", "/queues/claim", json={"queues": [queue],
                                                                "worker": unique("w")})
    assert claimed["id"] == task and claimed["runner"] == world.names["agent"]
    fenced = {**as_owner, "X-Tunehouse-Fence": f"{task}:1"}
    assert world.ok("agent", "GET", f"/tasks/{task}", headers=fenced)["user"] == owner
    # the fence names the attempt: another attempt, or another user, is refused
    for headers in ({**as_owner, "X-Tunehouse-Fence": f"{task}:2"},
                    {"X-Tunehouse-User": world.names["editor"],
                     "X-Tunehouse-Fence": f"{task}:1"}):
        assert world.call("agent", "GET", f"/tasks/{task}", headers=headers).status_code == 403
    # keys of the owner: only for the attempt it runs, and they end with it
    answer = world.call("agent", "POST", "/keys", json={"user": owner})
    assert answer.status_code == 403 and "attempt it runs" in answer.text
    key = world.ok("agent", "POST", "/keys", json={"user": owner, "task_id": task,
                                                    "attempt": 1})
    with httpx.Client(base_url=f"{world.server.url}/api/v1", timeout=60,
                      auth=(key["access_key"], key["secret_key"])) as as_key:
        assert as_key.get(f"/tasks/{task}").status_code == 200
        world.ok("agent", "POST", f"/tasks/{task}/status", headers={"X-Tunehouse-Fence":
                                                                       f"{task}:1"},
                 json={"status": "queued", "reason": "handed back"})
        refused = as_key.get(f"/tasks/{task}")
        assert refused.status_code == 401 and "which is over" in refused.text
    assert world.call("agent", "GET", f"/tasks/{task}", headers=fenced).status_code == 403


def test_denials_say_who_what_where_and_which_role(world: World) -> None:
    task = world.fresh_task()
    answer = world.call("viewer", "DELETE", f"/tasks/{task}")
    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == (
        f"{world.names['viewer']} may not delete task {task} in project {world.project}: "
        "needs owner, has viewer")


def test_projects_commands_go_through_the_server_as_the_keys_user(
        world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from tunehouse.cli.main import main

    monkeypatch.setenv("TUNEHOUSE_HOME", str(tmp_path))
    monkeypatch.setenv("TUNEHOUSE_SERVER", world.server.url)

    def run(persona: str, *args: str) -> tuple[int, str]:
        access, secret = world.keys[persona]
        monkeypatch.setenv("TUNEHOUSE_ACCESS_KEY", access)
        monkeypatch.setenv("TUNEHOUSE_SECRET_KEY", secret)
        code = main(["projects", *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    bystander = world.names["bystander"]
    code, said = run("viewer", "grant", world.project, bystander, "editor")
    assert code == 2 and "needs owner, has viewer" in said
    assert run("owner", "grant", world.project, bystander, "editor")[0] == 0
    code, said = run("viewer", "access", world.project)
    assert code == 0 and bystander in said and "editor" in said
    assert run("owner", "revoke", world.project, bystander)[0] == 0
    assert bystander not in run("owner", "access", world.project)[1]
    code, said = run("other", "access", world.project)
    assert code == 2 and "has no role" in said
