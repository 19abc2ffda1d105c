"""Contract of the ``roles`` account area: grants on projects, who has access, and (SQL
backends) the lookups of the server's permission checks.

The store checks no permission (the server does, before calling it; see
``tests/server/test_permissions.py``): here every backend acts as a user who may grant
(the SQL store unchecked, HTTP as the shared server's admin).
"""

from __future__ import annotations

import pytest

from tests.store.contract.helpers import new_task, unique
from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.accounts import Accounts
from tunehouse.store.base import Store
from tunehouse.store.interfaces.roles import ChainLink, Role, ancestors
from tunehouse.store.records import TaskCreate, TaskType
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.accounts import SqlAccountStore


def _users(accounts: Accounts, count: int) -> list[str]:
    names = [unique("r").replace("-", "") for _ in range(count)]
    for name in names:
        accounts.users.create_user(name, "pw")
    return names


def test_roles_and_ancestors() -> None:
    assert ancestors("a/b/c") == ["a", "a/b"] and ancestors("a") == []
    assert Role.viewer < Role.editor < Role.owner and Role.parse(" Editor ") is Role.editor
    with pytest.raises(InvalidInput, match="viewer, editor or owner"):
        Role.parse("admin")


def test_grants_are_listed_with_inheritance_and_revoked(store: Store,
                                                        accounts: Accounts) -> None:
    alice, bob = _users(accounts, 2)
    root = unique("org")
    store.tasks.get_or_create_project(root)
    leaf = store.tasks.get_or_create_project(f"{root}/a/b")
    granted = accounts.roles.grant_role(root, alice, "editor")
    assert (granted.user, granted.role, granted.granted_by) == (alice, "editor", accounts.user)
    accounts.roles.grant_role(leaf.name, alice, "viewer")  # lower than the inherited one
    accounts.roles.grant_role(leaf.id, bob, "viewer")  # by id works too
    found = {e.user: (e.role, e.inherited_from, e.granted_by)
             for e in accounts.roles.list_access(leaf.name)}
    me = accounts.user
    assert found == {store.user: ("owner", None, None),  # the creator (of the chain too)
                     alice: ("editor", root, me), bob: ("viewer", None, me)}
    assert [e.user for e in accounts.roles.list_access(leaf.id)] == sorted(found)
    assert accounts.roles.revoke_role(leaf.name, bob) is True
    assert accounts.roles.revoke_role(leaf.name, bob) is False  # nothing to take back
    assert bob not in {e.user for e in accounts.roles.list_access(leaf.name)}
    accounts.roles.grant_role(root, alice, "owner")  # replaces the role granted before
    events = accounts.audit.list_audit_events(target_type="project", oldest_first=True,
                                              target_id=store.tasks.get_project(root).id)
    assert [(e.action, e.details["user"], e.details["role"], e.details["before"])
            for e in events] == [("role.grant", alice, "editor", None),
                                 ("role.grant", alice, "owner", "editor")]
    assert all(e.user == accounts.user and e.details["project"] == root for e in events)


def test_grants_name_existing_projects_users_and_roles(store: Store,
                                                       accounts: Accounts) -> None:
    [alice] = _users(accounts, 1)
    project = store.tasks.get_or_create_project(unique("p")).name
    with pytest.raises(NotFound, match="project"):
        accounts.roles.grant_role(unique("nowhere"), alice, "viewer")
    with pytest.raises(NotFound, match="user"):
        accounts.roles.grant_role(project, unique("ghost"), "viewer")
    with pytest.raises(InvalidInput):
        accounts.roles.grant_role(project, alice, "boss")
    with pytest.raises(NotFound):
        accounts.roles.list_access(unique("nowhere"))
    with pytest.raises(NotFound):
        accounts.roles.revoke_role(unique("nowhere"), alice)


# ---------------------------------------------------------------- store-only lookups
def test_the_lookups_of_permission_checks(db_store: SqlStore,
                                          db_accounts: SqlAccountStore) -> None:
    roles = db_accounts.roles
    db_accounts.users.create_user("alice", "pw")
    lead = db_store.with_user("lead")
    top = lead.tasks.get_or_create_project("team")
    db_store.with_user("bob").tasks.get_or_create_project("team/vision")
    leaf = db_store.with_user("bob").tasks.get_or_create_project("team/vision/mnist")
    other = lead.tasks.get_or_create_project("team-other")
    ref = roles.project_ref(leaf.name)
    assert ref is not None and (ref.id, ref.name, ref.creator) == (leaf.id, leaf.name, "bob")
    assert roles.project_ref(leaf.id) == ref == roles.project_ref("team / vision / mnist")
    assert roles.project_ref("nowhere") is None
    task = new_task(db_store, project=leaf.name)
    assert roles.task_project(task) == ref
    with pytest.raises(NotFound):
        roles.task_project("no-such-task")
    roles.grant_role("team", "alice", "viewer")
    roles.grant_role(leaf.id, "alice", "editor")
    chain = sorted(roles.role_chain("alice", ref), key=lambda link: link.project)
    assert chain == [ChainLink(project="team", creator="lead", role="viewer"),
                     ChainLink(project="team/vision", creator="bob", role=None),
                     ChainLink(project="team/vision/mnist", creator="bob", role="editor")]
    assert {link.role for link in roles.role_chain("lead", ref)} == {None}
    middle = roles.project_ref("team/vision")
    assert middle is not None
    assert set(roles.own_projects("alice")) == {top.id, middle.id, leaf.id}
    assert other.id in roles.own_projects("lead") and roles.own_projects("nobody") == []
    search = db_store.tasks.create_task(TaskCreate(project="team", name="hpo",
                                                   type=TaskType.optimizer))
    assert [p.name for p in roles.search_projects(search.id[:12])] == ["team"]
    assert roles.search_projects(task[:12]) == []  # not an optimizer
    assert roles.search_projects("not-hex!") == []
