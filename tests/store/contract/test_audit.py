"""Contract of the ``audit`` account area: reading the log with every filter and keyset
pages on every backend; writing an entry (store-only) on the SQL backends.

Entries of changes are written by each area in the change's transaction (see the areas'
tests and ``tests/server/test_audit_trail.py``); here, the changes are user accounts.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers.clock import FakeClock
from tests.store.contract.helpers import unique
from tunehouse.errors import InvalidInput
from tunehouse.store.accounts import Accounts
from tunehouse.store.sql.accounts import SqlAccountStore


def test_filters_and_pages(accounts: Accounts) -> None:
    name = unique("au").replace("-", "")
    accounts.users.create_user(name, "pw")
    for _ in range(2):
        accounts.users.set_user_disabled(name, True)
        accounts.users.set_user_disabled(name, False)
    log = accounts.audit
    mine = log.list_audit_events(target_type="user", target_id=name)
    assert [e.action for e in mine] == ["user.enable", "user.disable"] * 2 + ["user.create"]
    assert [e.id for e in mine] == sorted((e.id for e in mine), reverse=True)
    oldest = log.list_audit_events(target_type="user", target_id=name, oldest_first=True)
    assert oldest == mine[::-1]
    assert log.list_audit_events(target_id=name, action="user.disable") == [mine[1], mine[3]]
    assert log.list_audit_events(target_id=name, action="user.*") == mine
    assert log.list_audit_events(target_id=name, action="user.") == []  # exact without *
    assert log.list_audit_events(target_id=name, user=accounts.user) == mine
    assert log.list_audit_events(target_id=name, user=unique("nobody")) == []
    assert log.list_audit_events(target_id=name, actor=unique("nobody")) == []
    first = log.list_audit_events(target_id=name, limit=2)
    second = log.list_audit_events(target_id=name, limit=2, after_id=first[-1].id)
    assert first + second == mine[:4]
    forward = log.list_audit_events(target_id=name, limit=3, oldest_first=True,
                                    after_id=oldest[0].id)
    assert forward == oldest[1:4]
    created = mine[-1].created
    assert created.tzinfo is not None
    assert log.list_audit_events(target_id=name, since=created) == mine
    assert log.list_audit_events(target_id=name, until=created) == []
    naive = created.replace(tzinfo=None) + timedelta(seconds=1)  # naive times are UTC
    assert mine[-1] in log.list_audit_events(target_id=name, until=naive)
    for limit in (0, 10_001):
        with pytest.raises(InvalidInput):
            log.list_audit_events(limit=limit)


def test_an_entry_is_recorded_with_the_views_context(db_accounts: SqlAccountStore,
                                                     clock: FakeClock) -> None:
    audit = db_accounts.audit
    first = audit.record("thing.create", "thing", "t1", {"n": 1})
    assert (first.user, first.actor, first.client) == (db_accounts.user, None, None)
    assert first.details == {"n": 1} and first.created == clock()
    clock.advance(5)
    acting = db_accounts.with_user("alice").with_context(actor="agent-1", client="10.0.0.7")
    second = acting.audit.record("thing.update", "thing", "t1", user="bob")
    assert (second.user, second.actor, second.client) == ("bob", "agent-1", "10.0.0.7")
    assert second.id > first.id and second.details == {} and second.created == clock()
    assert audit.list_audit_events(target_type="thing", target_id="t1") == [second, first]
    assert audit.list_audit_events(target_id="t1", actor="agent-1") == [second]
    assert audit.list_audit_events(target_id="t1", since=clock()) == [second]
    with pytest.raises(InvalidInput):
        audit.record("", "thing", "t1")
    with pytest.raises(InvalidInput):
        audit.record("thing.x", "thing", "")
