"""Accounts (users, passwords, API keys, audit log) on SQLite and PostgreSQL.

Only the server has them (:mod:`tunehouse.server.accounts`); the HTTP side of users and
keys is tested through the server's routes in ``test_auth.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tunehouse.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from tunehouse.server.accounts import Accounts


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Accounts]:
    from tunehouse.store.sql import SqlStore

    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    with SqlStore(url, tmp_path / "artifacts", user="tester") as store:
        yield Accounts.of(store)


def test_unknown_users_and_keys_are_not_found(accounts: Accounts) -> None:
    calls = [
        lambda: accounts.get_user(unique("user")),
        lambda: accounts.set_user_disabled(unique("user"), True),
        lambda: accounts.create_api_key(unique("user")),
        lambda: accounts.revoke_api_key("TH" + "A" * 20),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()


def test_users(accounts: Accounts) -> None:
    name = unique("user")
    user = accounts.create_user(name, "s3cret-pass", admin=True)
    assert user.name == name and user.admin and not user.disabled
    assert accounts.get_user(name) == user
    assert name in {u.name for u in accounts.list_users()}
    with pytest.raises(Conflict):
        accounts.create_user(name, "other")
    with pytest.raises(InvalidInput):
        accounts.create_user("bad name!", "pw")
    assert accounts.verify_password(name, "s3cret-pass") == user
    with pytest.raises(AuthenticationFailed) as wrong:
        accounts.verify_password(name, "wrong")
    with pytest.raises(AuthenticationFailed) as unknown:
        accounts.verify_password(unique("ghost"), "s3cret-pass")
    assert wrong.value.message == unknown.value.message
    assert accounts.set_user_disabled(name, True).disabled
    with pytest.raises(AuthenticationFailed) as disabled:
        accounts.verify_password(name, "s3cret-pass")
    assert disabled.value.message == wrong.value.message
    assert not accounts.set_user_disabled(name, False).disabled
    assert accounts.verify_password(name, "s3cret-pass").name == name


def test_api_keys(accounts: Accounts) -> None:
    name = unique("user")
    accounts.create_user(name, "pw")
    key = accounts.create_api_key(name, description="laptop")
    assert key.user == name and len(key.secret_key) >= 40 and key.access_key.startswith("TH")
    assert accounts.authenticate_key(key.access_key, key.secret_key).name == name
    listed = {k.access_key: k for k in accounts.list_api_keys(name)}
    assert listed[key.access_key].description == "laptop"
    assert listed[key.access_key].last_used is not None
    assert key.secret_key not in repr(listed)
    messages = set()
    for access, secret in [(key.access_key, key.secret_key + "x"),
                           ("TH" + "B" * 20, key.secret_key)]:
        with pytest.raises(AuthenticationFailed) as info:
            accounts.authenticate_key(access, secret)
        messages.add(info.value.message)
    accounts.set_user_disabled(name, True)
    with pytest.raises(AuthenticationFailed) as info:
        accounts.authenticate_key(key.access_key, key.secret_key)
    messages.add(info.value.message)
    accounts.set_user_disabled(name, False)
    revoked = accounts.revoke_api_key(key.access_key)
    assert revoked.revoked
    with pytest.raises(AuthenticationFailed) as info:
        accounts.authenticate_key(key.access_key, key.secret_key)
    messages.add(info.value.message)
    assert len(messages) == 1


def test_audit_events_newest_first(accounts: Accounts) -> None:
    target = unique("target")
    first = accounts.record("thing.create", "thing", target, {"n": 1})
    second = accounts.record("thing.update", "thing", target)
    assert first.user == accounts.user and first.details == {"n": 1}
    assert second.id > first.id and second.details == {}
    events = accounts.list_audit_events(target_type="thing", target_id=target)
    assert [e.id for e in events] == [second.id, first.id]
    assert [e.id for e in accounts.list_audit_events(target_id=target, limit=1)] == [second.id]
    assert isinstance(first.created, datetime) and first.created.tzinfo is not None
