"""Project roles (:mod:`tunehouse.server.permissions`) and the guarded store
(:mod:`tunehouse.server.guarded`) in process, on SQLite and PostgreSQL: inheritance along
project names, the default role, grants and revocations with their audit entries, and the
checks of the guarded areas. The same rules over HTTP, operation by operation, are in
``test_permissions_matrix.py``.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tunehouse.errors import InvalidInput, NotFound, PermissionDenied
from tunehouse.server.accounts import open_accounts
from tunehouse.server.guarded import GuardedProjectRoles, GuardedStore, guarded_store
from tunehouse.server.permissions import Permissions, Role, ancestors
from tunehouse.settings import Settings
from tunehouse.store.records import (
    ArtifactCreate,
    ModelCreate,
    ModelUpdate,
    StatusChange,
    TaskCreate,
    TaskQuery,
    TaskStatus,
    TaskType,
    TaskUpdate,
    User,
    WorkerHeartbeat,
)
from tunehouse.store.sql import SqlStore


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    url = request.getfixturevalue("sqlite_schema_url" if request.param == "sqlite"
                                  else "pg_schema_url")
    with SqlStore(url, tmp_path / "artifacts", user="server") as store:
        yield store


def make_user(sql: SqlStore, admin: bool = False, agent: bool = False) -> User:
    return open_accounts(sql).users.create_user(unique("u"), "pw", admin=admin, agent=agent)


def permissions_of(sql: SqlStore, default_role: str | None = "viewer") -> Permissions:
    return Permissions(open_accounts(sql), default_role)


def as_user(sql: SqlStore, user: User, default_role: str = "viewer") -> GuardedStore:
    return guarded_store(sql.with_user(user.name), user, permissions_of(sql, default_role))


def roles_of(sql: SqlStore, user: User, default_role: str = "viewer") -> GuardedProjectRoles:
    """The project roles as ``user`` reaches them through the server (checked)."""
    return GuardedProjectRoles(user, permissions_of(sql, default_role),
                               open_accounts(sql, user=user.name).roles)


def test_ancestors_of_a_project_name() -> None:
    assert ancestors("a/b/c") == ["a", "a/b"]
    assert ancestors("a") == []


def test_roles_are_inherited_from_every_ancestor_and_the_highest_wins(sql: SqlStore) -> None:
    owner, alice, admin = make_user(sql), make_user(sql), make_user(sql, admin=True)
    root = unique("team")
    mine = as_user(sql, owner)
    top = mine.tasks.get_or_create_project(root)
    mid = mine.tasks.get_or_create_project(f"{root}/vision")
    leaf = mine.tasks.get_or_create_project(f"{root}/vision/mnist")
    other = mine.tasks.get_or_create_project(f"{root}-other")
    permissions = permissions_of(sql, "none")
    assert permissions.role_of(alice, leaf.id) is None
    assert permissions.role_of(admin, leaf.id) is Role.owner
    assert permissions.role_of(owner, leaf.id) is Role.owner  # creator
    roles_of(sql, owner).grant_role(top.name, alice.name, "viewer")
    assert [permissions.role_of(alice, p.id) for p in (top, mid, leaf)] == [Role.viewer] * 3
    assert permissions.role_of(alice, other.id) is None  # a name prefix is no ancestor
    roles_of(sql, owner).grant_role(mid.id, alice.name, "editor")  # by id works too
    assert [permissions.role_of(alice, p.id) for p in (top, mid, leaf)] == [
        Role.viewer, Role.editor, Role.editor]
    roles_of(sql, owner).grant_role(leaf.name, alice.name, "viewer")
    assert permissions.role_of(alice, leaf.id) is Role.editor  # the highest of the chain
    assert permissions.role_of(alice, leaf.name) is Role.editor  # names work too
    with pytest.raises(NotFound):
        permissions.role_of(alice, unique("nowhere"))


def test_the_creator_of_an_ancestor_owns_its_sub_projects(sql: SqlStore) -> None:
    lead, bob = make_user(sql), make_user(sql)
    root = unique("lab")
    as_user(sql, lead).tasks.get_or_create_project(root)
    sub = as_user(sql, bob).tasks.get_or_create_project(f"{root}/bob")
    permissions = permissions_of(sql, "none")
    assert permissions.role_of(lead, sub.id) is Role.owner
    assert permissions.role_of(bob, sub.id) is Role.owner
    assert permissions.role_of(bob, root) is None


@pytest.mark.parametrize(("setting", "expected"), [
    ("viewer", Role.viewer), ("editor", Role.editor), ("none", None)])
def test_the_default_role_applies_without_a_role_of_ones_own(
        sql: SqlStore, setting: str, expected: Role | None) -> None:
    owner, carol = make_user(sql), make_user(sql)
    project = as_user(sql, owner).tasks.get_or_create_project(unique("p"))
    permissions = permissions_of(sql, setting)
    assert permissions.role_of(carol, project.id) is expected
    # an explicit grant wins over the default, even a lower one
    roles_of(sql, owner).grant_role(project.name, carol.name, "viewer")
    assert permissions.role_of(carol, project.id) is Role.viewer


def test_the_default_role_setting(tmp_path: Path) -> None:
    assert Settings.from_env(env={}, home=tmp_path).default_project_role == "viewer"
    env = {"TUNEHOUSE_DEFAULT_PROJECT_ROLE": "None"}
    assert Settings.from_env(env=env, home=tmp_path).default_project_role == "none"
    (tmp_path / "config.json").write_text('{"default_project_role": "editor"}')
    assert Settings.from_env(env={}, home=tmp_path).default_project_role == "editor"
    with pytest.raises(InvalidInput, match="TUNEHOUSE_DEFAULT_PROJECT_ROLE"):
        Settings.from_env(env={"TUNEHOUSE_DEFAULT_PROJECT_ROLE": "admin"}, home=tmp_path)


def test_grant_and_revoke_need_an_owner_and_are_audited(sql: SqlStore) -> None:
    owner, alice, bob = make_user(sql), make_user(sql), make_user(sql)
    project = as_user(sql, owner).tasks.get_or_create_project(unique("team") + "/x")
    with pytest.raises(PermissionDenied, match=rf"{alice.name} may not grant editor to "
                                               rf"{bob.name} .*needs owner, has viewer"):
        roles_of(sql, alice).grant_role(project.name, bob.name, "editor")
    with pytest.raises(NotFound, match="user"):
        roles_of(sql, owner).grant_role(project.name, unique("ghost"), "editor")
    with pytest.raises(NotFound, match="project"):
        roles_of(sql, owner).grant_role(unique("nowhere"), bob.name, "editor")
    roles_of(sql, owner).grant_role(project.name, alice.name, "editor")
    roles_of(sql, owner).grant_role(project.name, alice.name, "owner")
    # an owner by grant may hand out roles too
    roles_of(sql, alice).grant_role(project.name, bob.name, "viewer")
    assert roles_of(sql, alice).revoke_role(project.name, bob.name) is True
    assert roles_of(sql, alice).revoke_role(project.name, bob.name) is False  # nothing to take
    events = open_accounts(sql).audit.list_audit_events(target_type="project", target_id=project.id)
    assert [(e.action, e.user, e.details["user"], e.details["role"], e.details["before"])
            for e in reversed(events)] == [
        ("role.grant", owner.name, alice.name, "editor", None),
        ("role.grant", owner.name, alice.name, "owner", "editor"),
        ("role.grant", alice.name, bob.name, "viewer", None),
        ("role.revoke", alice.name, bob.name, None, "viewer"),
    ]


def test_access_lists_own_inherited_and_creator_roles(sql: SqlStore) -> None:
    owner, alice, bob = make_user(sql), make_user(sql), make_user(sql)
    root = unique("org")
    store = as_user(sql, owner)
    store.tasks.get_or_create_project(root)
    leaf = store.tasks.get_or_create_project(f"{root}/a/b")
    roles_of(sql, owner).grant_role(root, alice.name, "editor")
    roles_of(sql, owner).grant_role(leaf.name, alice.name, "viewer")
    roles_of(sql, owner).grant_role(leaf.name, bob.name, "viewer")
    found = {e.user: (e.role, e.inherited_from, e.granted_by)
             for e in open_accounts(sql).roles.list_access(leaf.name)}
    assert found == {owner.name: ("owner", None, None), alice.name: ("editor", root, owner.name),
                     bob.name: ("viewer", None, owner.name)}


def test_denials_name_user_action_project_and_roles(sql: SqlStore) -> None:
    owner, viewer = make_user(sql), make_user(sql)
    project = unique("team") + "/vision"
    task = as_user(sql, owner).tasks.create_task(TaskCreate(project=project, name="t"))
    store = as_user(sql, viewer)
    assert store.tasks.get_task(task.id).id == task.id
    with pytest.raises(PermissionDenied) as denied:
        store.tasks.delete_task(task.id)
    assert denied.value.message == (f"{viewer.name} may not delete task {task.id} in project "
                                    f"{project}: needs owner, has viewer")
    with pytest.raises(PermissionDenied, match="needs editor, has viewer"):
        store.tasks.create_task(TaskCreate(project=project, name="mine"))
    # a new project is anyone's to create, and its creator owns it
    own = store.tasks.create_task(TaskCreate(project=unique("viewer-own"), name="mine"))
    store.tasks.delete_task(own.id)


def test_listings_leave_out_unreadable_projects_when_the_default_is_none(
        sql: SqlStore) -> None:
    owner, carol = make_user(sql), make_user(sql)
    hidden = unique("hidden")
    task = as_user(sql, owner).tasks.create_task(TaskCreate(project=hidden, name="secret"))
    blob = as_user(sql, owner).artifacts.put_blob(io.BytesIO(uuid.uuid4().bytes))
    as_user(sql, owner).artifacts.add_artifact(task.id, ArtifactCreate(
        name="weights", sha256=blob.sha256, size=blob.size))
    as_user(sql, owner).models.create_model(ModelCreate(
        name=unique("m"), task_id=task.id, sha256=blob.sha256, size=blob.size))
    carol_store = as_user(sql, carol, default_role="none")
    assert hidden not in {p.name for p in carol_store.tasks.list_projects()}
    assert task.id not in {t.id for t in carol_store.tasks.iter_tasks(TaskQuery(limit=100))}
    assert carol_store.tasks.list_tasks(TaskQuery(project=hidden)).total == 0
    assert all(m.task_id != task.id for m in carol_store.models.list_models())
    with pytest.raises(PermissionDenied, match="has no role") as refused:
        carol_store.tasks.get_task(task.id)
    assert hidden not in refused.value.message  # nor does the refusal name the project
    with pytest.raises(NotFound):  # a blob she may not read does not exist for her
        carol_store.artifacts.open_blob(blob.sha256)
    roles_of(sql, owner).grant_role(hidden, carol.name, "viewer")
    assert hidden in {p.name for p in carol_store.tasks.list_projects()}
    assert carol_store.tasks.list_tasks(TaskQuery(project=hidden)).total == 1
    assert b"".join(carol_store.artifacts.open_blob(blob.sha256))
    # with the default viewer everybody reads everything
    dave = as_user(sql, make_user(sql))
    assert dave.tasks.list_tasks(TaskQuery(project=hidden)).total == 1


def test_blobs_nobody_refers_to_are_read_by_admins_only(sql: SqlStore) -> None:
    user, admin = make_user(sql), make_user(sql, admin=True)
    blob = as_user(sql, user).artifacts.put_blob(io.BytesIO(uuid.uuid4().bytes))
    with pytest.raises(NotFound):
        as_user(sql, user).artifacts.open_blob(blob.sha256)
    assert b"".join(as_user(sql, admin).artifacts.open_blob(blob.sha256))


def test_model_versions_and_stages_belong_to_the_project_of_the_model(sql: SqlStore) -> None:
    owner, rival = make_user(sql), make_user(sql)
    name = unique("resnet")
    mine = as_user(sql, owner)
    blob = mine.artifacts.put_blob(io.BytesIO(uuid.uuid4().bytes))
    spec = ModelCreate(name=name, project=unique("vision"), sha256=blob.sha256, size=blob.size)
    first = mine.models.create_model(spec)
    mine.models.set_model_stage(name, "production", first.version)
    theirs = as_user(sql, rival)
    # a version of someone else's model in a project of one's own is still refused
    with pytest.raises(PermissionDenied, match=f"register a version of model '{name}'"):
        theirs.models.create_model(spec.model_copy(update={"project": unique("rival")}))
    with pytest.raises(PermissionDenied, match="needs editor, has viewer"):
        theirs.models.set_model_stage(name, "production", first.version)
    with pytest.raises(PermissionDenied, match="publish model"):
        theirs.models.update_model(first.id, ModelUpdate(published=True))
    assert theirs.models.get_model(first.id).id == first.id


def test_queues_claims_and_heartbeats_need_an_agent(sql: SqlStore) -> None:
    user, agent = make_user(sql), make_user(sql, agent=True)
    queue = unique("q")
    mine = as_user(sql, user)
    mine.queues.get_or_create_queue(queue)
    assert queue in {q.name for q in mine.queues.list_queues()}
    with pytest.raises(PermissionDenied, match="needs an agent account"):
        mine.queues.claim_task([queue], "w")
    with pytest.raises(PermissionDenied, match="needs an agent account"):
        mine.queues.heartbeat(WorkerHeartbeat(name="w", queues=[queue]))
    with pytest.raises(PermissionDenied, match="needs an admin"):
        mine.queues.delete_queue(queue)
    runner = as_user(sql, agent)
    assert runner.queues.claim_task([queue], "w") is None
    runner.queues.heartbeat(WorkerHeartbeat(name=unique("w"), queues=[queue]))


def test_an_agent_account_claims_and_ends_tasks_but_edits_nothing(sql: SqlStore) -> None:
    owner, agent = make_user(sql), make_user(sql, agent=True)
    queue = unique("gpu")
    mine = as_user(sql, owner)
    task = mine.tasks.create_task(TaskCreate(project=unique("p"), name="t"))
    mine.queues.enqueue(task.id, queue)
    runner = as_user(sql, agent)
    claimed = runner.queues.claim_task([queue], "agent-1")
    assert claimed is not None and claimed.id == task.id
    with pytest.raises(PermissionDenied, match="needs editor"):
        runner.tasks.update_task(task.id, TaskUpdate(comment="mine now"))
    # handing a running task back, as a stopping agent does, is its own to do
    back = runner.with_fence(task.id, claimed.attempt).tasks.change_status(
        task.id, StatusChange(status=TaskStatus.queued, reason="agent stops"))
    assert back.status is TaskStatus.queued
    with pytest.raises(PermissionDenied):  # not running any more
        runner.tasks.change_status(task.id, StatusChange(status=TaskStatus.aborted))


def test_a_searchs_private_queue_is_its_editors(sql: SqlStore) -> None:
    owner, stranger = make_user(sql), make_user(sql)
    mine = as_user(sql, owner)
    project = unique("search")
    search = mine.tasks.create_task(TaskCreate(project=project, name="hpo",
                                               type=TaskType.optimizer))
    queue = f"hpo-{search.id[:12]}"
    worker = f"hpo-local-{search.id[:12]}-123.1@host"
    mine.queues.get_or_create_queue(queue)
    trial = mine.tasks.create_task(TaskCreate(project=project, name="trial"))
    mine.queues.enqueue(trial.id, queue)
    mine.queues.heartbeat(WorkerHeartbeat(name=worker, queues=[queue]))
    claimed = mine.queues.claim_task([queue], worker)
    assert claimed is not None and claimed.id == trial.id
    theirs = as_user(sql, stranger)
    own = theirs.tasks.create_task(TaskCreate(project=unique("own"), name="sneak"))
    with pytest.raises(PermissionDenied, match="private queue"):
        theirs.queues.enqueue(own.id, queue)  # its agent would run it as the search's user
    for call in (lambda: theirs.queues.claim_task([queue], worker),
                 lambda: theirs.queues.heartbeat(WorkerHeartbeat(name=worker, queues=[queue])),
                 lambda: theirs.queues.delete_queue(queue)):
        with pytest.raises(PermissionDenied):
            call()
    with pytest.raises(PermissionDenied, match="needs an agent"):  # another worker name
        mine.queues.heartbeat(WorkerHeartbeat(name="gpu-box-1", queues=[queue]))
    mine.tasks.change_status(trial.id, StatusChange(status=TaskStatus.completed))
    mine.queues.delete_queue(queue)


def test_with_user_and_with_fence_stay_guarded(sql: SqlStore) -> None:
    owner, viewer = make_user(sql), make_user(sql)
    task = as_user(sql, owner).tasks.create_task(TaskCreate(project=unique("p"), name="t"))
    admin_store = as_user(sql, make_user(sql, admin=True))
    acting = admin_store.with_user(viewer.name)
    assert isinstance(acting, GuardedStore) and acting.user == viewer.name
    with pytest.raises(PermissionDenied):
        acting.tasks.delete_task(task.id)
    fenced = acting.with_fence(task.id, 1)
    assert isinstance(fenced, GuardedStore)
    with pytest.raises(PermissionDenied):
        fenced.tasks.update_task(task.id, TaskUpdate(comment="x"))
    with pytest.raises(NotFound):
        admin_store.with_user(unique("ghost"))


def test_projects_commands_on_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from tunehouse.cli.main import main

    monkeypatch.delenv("TUNEHOUSE_SERVER", raising=False)
    home = tmp_path / "home"
    with SqlStore.from_settings(Settings.from_env(env={}, home=home), user="server") as sql:
        owner, alice = make_user(sql), make_user(sql)
        project = as_user(sql, owner).tasks.get_or_create_project(unique("team")).name
    where = ["--data-dir", str(home)]
    assert main(["projects", "grant", f"{project}/sub", alice.name, "editor", *where]) == 2
    assert main(["projects", "grant", project, alice.name, "editor", *where]) == 0
    assert f"{alice.name} is editor of {project}" in capsys.readouterr().out
    assert main(["projects", "access", project, *where]) == 0
    listing = capsys.readouterr().out
    assert alice.name in listing and owner.name in listing and "(creator)" in listing
    assert main(["projects", "revoke", project, alice.name, *where]) == 0
    assert main(["projects", "revoke", project, alice.name, *where]) == 0
    said = capsys.readouterr().out
    assert "revoked the role" in said and "had no role of their own" in said
    with SqlStore.from_settings(Settings.from_env(env={}, home=home)) as sql:
        events = open_accounts(sql).audit.list_audit_events(target_type="project")
    assert [e.action for e in events] == ["role.revoke", "role.grant"]
    assert events[0].user.startswith("cli:")
