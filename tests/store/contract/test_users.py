"""Contract of the ``users`` and ``keys`` account areas.

What is reachable over HTTP runs against every backend (SQLite, PostgreSQL, HTTP to the
shared server as its admin, so names are unique); the store-only operations (checking a
password, a key; LDAP users) against the SQL backends (``db_accounts``).
"""

from __future__ import annotations

import pytest

from tests.helpers.clock import FakeClock
from tests.store.contract.helpers import unique
from tunehouse.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from tunehouse.store.accounts import Accounts
from tunehouse.store.interfaces.users import ATTEMPT_KEY_GRACE_S, LDAP_PASSWORD_HASH
from tunehouse.store.records import StatusChange, TaskCreate, TaskStatus
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.accounts import SqlAccountStore


def _user_name() -> str:
    return unique("u").replace("-", "")


# ---------------------------------------------------------------- users
def test_users_are_created_listed_disabled_and_enabled(accounts: Accounts) -> None:
    name = _user_name()
    user = accounts.users.create_user(name, "s3cret-pass", admin=True)
    assert user.name == name and user.admin and not user.agent and not user.disabled
    assert user.source == "local" and user.created.tzinfo is not None
    assert accounts.users.get_user(name) == user
    agent = accounts.users.create_user(_user_name(), "pw", agent=True)
    assert agent.agent and not agent.admin
    listed = [u.name for u in accounts.users.list_users()]
    assert {name, agent.name} <= set(listed) and listed == sorted(listed)
    with pytest.raises(Conflict, match="already exists"):
        accounts.users.create_user(name, "other")
    for bad_name, password in [("bad name!", "pw"), ("", "pw"), ("x" * 65, "pw"),
                               (_user_name(), ""), (_user_name(), "p" * 1025)]:
        with pytest.raises(InvalidInput):
            accounts.users.create_user(bad_name, password)
    assert accounts.users.set_user_disabled(name, True).disabled
    assert accounts.users.get_user(name).disabled
    assert not accounts.users.set_user_disabled(name, False).disabled


def test_unknown_users_and_keys_are_not_found(accounts: Accounts) -> None:
    calls = [
        lambda: accounts.users.get_user(_user_name()),
        lambda: accounts.users.set_user_disabled(_user_name(), True),
        lambda: accounts.keys.create_api_key(_user_name()),
        lambda: accounts.keys.revoke_api_key("TH" + "A" * 20),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()


def test_account_changes_are_audited_as_the_acting_user(accounts: Accounts) -> None:
    name = _user_name()
    accounts.users.create_user(name, "pw", agent=True)
    accounts.users.set_user_disabled(name, True)
    accounts.users.set_user_disabled(name, False)
    key = accounts.keys.create_api_key(name, description="laptop")
    accounts.keys.revoke_api_key(key.access_key)
    users = accounts.audit.list_audit_events(target_type="user", target_id=name,
                                             oldest_first=True)
    assert [(e.action, e.user) for e in users] == [
        ("user.create", accounts.user), ("user.disable", accounts.user),
        ("user.enable", accounts.user)]
    assert users[0].details == {"admin": False, "agent": True}
    keys = accounts.audit.list_audit_events(target_type="api_key", target_id=key.access_key,
                                            oldest_first=True)
    assert [(e.action, e.details["user"]) for e in keys] == [
        ("key.create", name), ("key.revoke", name)]
    assert keys[0].details["description"] == "laptop"


# ---------------------------------------------------------------- keys
def test_api_keys_are_created_listed_and_revoked(accounts: Accounts) -> None:
    name = _user_name()
    accounts.users.create_user(name, "pw")
    key = accounts.keys.create_api_key(name, description="laptop")
    assert key.user == name and key.access_key.startswith("TH") and len(key.access_key) == 22
    assert len(key.secret_key) >= 40
    second = accounts.keys.create_api_key(name)
    listed = accounts.keys.list_api_keys(name)
    assert [k.access_key for k in listed] == [key.access_key, second.access_key]
    assert listed[0].description == "laptop" and not listed[0].revoked
    assert key.secret_key not in repr(listed)
    assert key.access_key in {k.access_key for k in accounts.keys.list_api_keys()}
    revoked = accounts.keys.revoke_api_key(key.access_key)
    assert revoked.revoked and revoked.user == name
    assert [k.revoked for k in accounts.keys.list_api_keys(name)] == [True, False]


# ---------------------------------------------------------------- store-only
def test_passwords_are_checked_alike_for_every_refusal(db_accounts: SqlAccountStore) -> None:
    users = db_accounts.users
    user = users.create_user("sam", "s3cret-pass")
    assert users.verify_password("sam", "s3cret-pass") == user
    refusals = set()
    for name, password in [("sam", "wrong"), ("ghost", "s3cret-pass"), ("sam", "")]:
        with pytest.raises(AuthenticationFailed) as refused:
            users.verify_password(name, password)
        refusals.add(refused.value.message)
    users.set_user_disabled("sam", True)
    with pytest.raises(AuthenticationFailed) as disabled:
        users.verify_password("sam", "s3cret-pass")
    refusals.add(disabled.value.message)
    assert refusals == {"invalid user name or password"}
    users.set_user_disabled("sam", False)
    assert users.verify_password("sam", "s3cret-pass").name == "sam"
    assert db_accounts.audit.list_audit_events(action="auth.*") == []  # the server audits


def test_ldap_users_have_no_local_password(db_accounts: SqlAccountStore) -> None:
    users = db_accounts.users
    alice = users.save_ldap_user("alice", admin=None)
    assert alice is not None and (alice.source, alice.admin) == ("ldap", False)
    for password in (LDAP_PASSWORD_HASH, "", "anything"):
        with pytest.raises(AuthenticationFailed):
            users.verify_password("alice", password)
    promoted = users.save_ldap_user("alice", admin=True)
    assert promoted is not None and promoted.admin
    assert users.save_ldap_user("alice", admin=None) == promoted  # left as it is
    users.create_user("dave", "local-dave")
    assert users.save_ldap_user("dave", admin=True) is None  # never takes a local user over
    users.set_user_disabled("alice", True)
    assert users.save_ldap_user("alice", admin=True) is None
    events = db_accounts.audit.list_audit_events(target_type="user", target_id="alice",
                                                 oldest_first=True)
    assert [(e.action, e.details) for e in events][:2] == [
        ("user.create", {"admin": False, "agent": False, "source": "ldap"}),
        ("user.update", {"admin": True, "source": "ldap"})]


def test_keys_are_checked_and_their_use_noted(db_accounts: SqlAccountStore,
                                              clock: FakeClock) -> None:
    db_accounts.users.create_user("kim", "pw")
    keys = db_accounts.keys
    key = keys.create_api_key("kim")
    wrong: list[str] = []

    def on_wrong_secret() -> None:
        wrong.append("counted")

    assert keys.authenticate_key(key.access_key, key.secret_key, on_wrong_secret).name == "kim"
    assert wrong == []
    [listed] = keys.list_api_keys("kim")
    assert listed.last_used == clock()
    clock.advance(30)  # noted at most once a minute
    keys.authenticate_key(key.access_key, key.secret_key)
    assert keys.list_api_keys("kim")[0].last_used == listed.last_used
    clock.advance(31)
    keys.authenticate_key(key.access_key, key.secret_key)
    assert keys.list_api_keys("kim")[0].last_used == clock()
    messages = set()
    for access, secret in [(key.access_key, key.secret_key + "x"), ("TH" + "B" * 20, "x")]:
        with pytest.raises(AuthenticationFailed) as refused:
            keys.authenticate_key(access, secret, on_wrong_secret)
        messages.add(refused.value.message)
    assert wrong == ["counted", "counted"]
    db_accounts.users.set_user_disabled("kim", True)  # the right secret: refused, not counted
    with pytest.raises(AuthenticationFailed) as refused:
        keys.authenticate_key(key.access_key, key.secret_key, on_wrong_secret)
    messages.add(refused.value.message)
    db_accounts.users.set_user_disabled("kim", False)
    assert keys.check_key(key.access_key).name == "kim"
    keys.revoke_api_key(key.access_key)
    with pytest.raises(AuthenticationFailed) as refused:
        keys.authenticate_key(key.access_key, key.secret_key, on_wrong_secret)
    messages.add(refused.value.message)
    for access in (key.access_key, "TH" + "D" * 20):  # revoked, unknown
        with pytest.raises(AuthenticationFailed, match="invalid or revoked"):
            keys.check_key(access)
    assert messages == {"invalid or revoked API key"} and len(wrong) == 2


def test_a_key_knows_who_created_it(db_accounts: SqlAccountStore) -> None:
    db_accounts.users.create_user("owner", "pw")
    made = db_accounts.with_user("agent-1").keys.create_api_key("owner")
    assert db_accounts.keys.key_created_by(made.access_key) == "agent-1"
    assert db_accounts.keys.key_created_by("TH" + "C" * 20) is None


def test_a_key_made_for_an_attempt_works_while_it_runs(db_accounts: SqlAccountStore,
                                                      db_store: SqlStore,
                                                      clock: FakeClock) -> None:
    db_accounts.users.create_user("tester", "pw")
    task = db_store.tasks.create_task(TaskCreate(project="keys", name="run"))
    keys = db_accounts.keys
    with pytest.raises(InvalidInput, match="running task"):  # not running yet
        keys.create_api_key("tester", for_attempt=(task.id, 1))
    db_store.queues.enqueue(task.id, "keys-queue")
    claimed = db_store.queues.claim_task(["keys-queue"], "worker-1")
    assert claimed is not None and claimed.attempt == 1 and claimed.runner == "tester"
    for user, attempt in [("tester", 2), ("someone-else", 1)]:  # another attempt, owner
        if user != "tester":
            db_accounts.users.create_user(user, "pw")
        with pytest.raises(InvalidInput, match="running task"):
            keys.create_api_key(user, for_attempt=(task.id, attempt))
    key = keys.create_api_key("tester", for_attempt=(task.id, 1))
    [listed] = [k for k in keys.list_api_keys("tester") if k.access_key == key.access_key]
    assert (listed.task_id, listed.attempt) == (task.id, 1)
    assert keys.authenticate_key(key.access_key, key.secret_key).name == "tester"
    assert keys.check_key(key.access_key).name == "tester"  # without its secret (tokens)
    ended = db_store.tasks.change_status(task.id, StatusChange(status=TaskStatus.completed))
    # the process's last words after its attempt ended still count, for a minute
    assert ended.completed is not None
    clock.advance((ended.completed - clock()).total_seconds() + ATTEMPT_KEY_GRACE_S - 1)
    assert keys.authenticate_key(key.access_key, key.secret_key).name == "tester"
    clock.advance(2)
    for check in (lambda: keys.authenticate_key(key.access_key, key.secret_key),
                  lambda: keys.check_key(key.access_key)):
        with pytest.raises(AuthenticationFailed,
                           match=f"attempt 1 of task {task.id}, which is over"):
            check()


def test_an_agents_key_for_an_admins_attempt_has_no_admin_rights(
        db_accounts: SqlAccountStore, db_store: SqlStore) -> None:
    db_accounts.users.create_user("tester", "pw", admin=True)
    db_accounts.users.create_user("agent-1", "pw", agent=True)
    task = db_store.tasks.create_task(TaskCreate(project="keys", name="admin's run"))
    db_store.queues.enqueue(task.id, "admin-queue")
    assert db_store.queues.claim_task(["admin-queue"], "worker-1") is not None
    made = {creator: db_accounts.with_user(creator).keys.create_api_key(
        "tester", for_attempt=(task.id, 1)) for creator in ("agent-1", "tester")}
    admin = {creator: db_accounts.keys.authenticate_key(key.access_key, key.secret_key).admin
             for creator, key in made.items()}
    assert admin == {"agent-1": False, "tester": True}


def test_no_key_for_a_disabled_user(accounts: Accounts) -> None:
    name = _user_name()
    accounts.users.create_user(name, "pw-123456789")
    accounts.users.set_user_disabled(name, True)
    with pytest.raises(InvalidInput, match="disabled"):
        accounts.keys.create_api_key(name)
    assert accounts.keys.list_api_keys(name) == []
