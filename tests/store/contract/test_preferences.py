"""Contract of the ``preferences`` account area: each user's own JSON documents, checked
(keys, sizes, the web UI's dashboard pins), on every backend (over HTTP the admin acts
for each user)."""

from __future__ import annotations

import pytest

from tests.store.contract.helpers import unique
from tunehouse.errors import InvalidInput
from tunehouse.store.accounts import Accounts
from tunehouse.store.preferences import DASHBOARD_MAX_PINS, PREFERENCE_MAX_BYTES
from tunehouse.store.sql.accounts import SqlAccountStore

PINS = [{"kind": "metric_over_time", "spec": "metric:accuracy/validation:max",
         "title": "Best accuracy"},
        {"kind": "running_latest", "spec": "metric::monitor:/gpu0_utilization"}]


def test_preferences_are_each_users_own(accounts: Accounts) -> None:
    names = [unique("p").replace("-", "") for _ in range(2)]
    for name in names:
        accounts.users.create_user(name, "pw")
    alice, bob = (accounts.with_user(name).preferences for name in names)
    assert alice.get_preference("dashboard:p1") is None
    assert alice.set_preference("dashboard:p1", PINS[:1]) == PINS[:1]
    assert alice.set_preference("dashboard:p1", PINS) == [PINS[0], {**PINS[1], "title": ""}]
    assert len(alice.get_preference("dashboard:p1")) == 2  # replaced, not added
    assert bob.get_preference("dashboard:p1") is None
    bob.set_preference("dashboard:p1", [])
    assert bob.get_preference("dashboard:p1") == []
    assert len(alice.get_preference("dashboard:p1")) == 2
    nested = {"a": [1, 2.5, "x", None, True], "b": {"c": "ü"}}
    assert alice.set_preference("misc", nested) == nested
    assert alice.get_preference("misc") == nested
    assert alice.set_preference("misc", None) is None
    assert alice.get_preference("misc") is None


def test_preferences_are_checked(accounts: Accounts) -> None:
    name = unique("p").replace("-", "")
    accounts.users.create_user(name, "pw")
    mine = accounts.with_user(name).preferences
    with pytest.raises(InvalidInput, match="invalid preference key"):
        mine.get_preference("-bad key")
    with pytest.raises(InvalidInput, match="bytes of JSON"):
        mine.set_preference("big", "x" * PREFERENCE_MAX_BYTES)
    with pytest.raises(InvalidInput, match="is not a metric column"):
        mine.set_preference("dashboard:p", [{"kind": "running_latest", "spec": "name"}])
    with pytest.raises(InvalidInput, match="dashboard:p"):
        mine.set_preference("dashboard:p", [PINS[0]] * (DASHBOARD_MAX_PINS + 1))
    assert mine.get_preference("big") is None and mine.get_preference("dashboard:p") is None


def test_a_value_must_be_json(db_accounts: SqlAccountStore) -> None:
    db_accounts.users.create_user("alice", "pw")
    mine = db_accounts.with_user("alice").preferences
    for value in (float("nan"), {1, 2}):
        with pytest.raises(InvalidInput, match="not JSON"):
            mine.set_preference("misc", value)
