"""Contract of the ``sessions`` and ``throttle`` account areas: web sessions and the
counters of failed attempts, their times from a fake clock moved by the test (no test
waits for a timeout).

Sessions and counting are store-only (SQL backends); listing and clearing lockouts is
what admins reach over HTTP too (every backend).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from tests.helpers.clock import FakeClock
from tests.store.contract.helpers import unique
from tunehouse.errors import AuthenticationFailed, NotFound
from tunehouse.store.accounts import Accounts
from tunehouse.store.records import Lockout
from tunehouse.store.sql.accounts import SqlAccountStore


# ---------------------------------------------------------------- sessions
def test_a_session_lives_until_signed_out(db_accounts: SqlAccountStore) -> None:
    db_accounts.users.create_user("sam", "pw")
    sessions = db_accounts.sessions
    token = sessions.create_session("sam", "10.0.0.1", max_s=60)
    assert len(token) == 43 and sessions.check_session(token, idle_s=60).name == "sam"
    other = sessions.create_session("sam", None, max_s=60)
    assert other != token and sessions.count_sessions("sam") == 2
    assert sessions.end_session(token) is True and sessions.end_session(token) is False
    with pytest.raises(AuthenticationFailed, match="invalid session"):
        sessions.check_session(token, idle_s=60)
    for bad in ("", "x" * 129, "never-issued"):
        with pytest.raises(AuthenticationFailed):
            sessions.check_session(bad, idle_s=60)
    assert sessions.end_session("x" * 129) is False
    assert sessions.check_session(other, idle_s=60).name == "sam"


def test_idle_and_absolute_timeouts(db_accounts: SqlAccountStore, clock: FakeClock) -> None:
    db_accounts.users.create_user("sam", "pw")
    sessions = db_accounts.sessions
    busy = sessions.create_session("sam", None, max_s=5)
    idle = sessions.create_session("sam", None, max_s=5)
    for _ in range(7):  # used every 0.5 s (the use is noted each 0.5 s: a quarter of 2 s)
        clock.advance(0.5)
        assert sessions.check_session(busy, idle_s=2).name == "sam"
    with pytest.raises(AuthenticationFailed, match="idle"):
        sessions.check_session(idle, idle_s=2)  # 3.5 s without a use > 2 s
    clock.advance(1.4)
    assert sessions.check_session(busy, idle_s=2).name == "sam"  # 4.9 s after sign-in
    clock.advance(0.1)
    with pytest.raises(AuthenticationFailed, match="expired"):
        sessions.check_session(busy, idle_s=2)  # 5 s: the absolute timeout


def test_the_use_is_noted_at_most_once_a_minute(db_accounts: SqlAccountStore,
                                                clock: FakeClock) -> None:
    db_accounts.users.create_user("sam", "pw")
    sessions = db_accounts.sessions
    token = sessions.create_session("sam", None, max_s=3600)
    clock.advance(59)
    sessions.check_session(token, idle_s=600)  # not noted: less than a minute since
    clock.advance(542)
    with pytest.raises(AuthenticationFailed, match="idle"):
        sessions.check_session(token, idle_s=600)  # so 601 s idle, past 600
    token = sessions.create_session("sam", None, max_s=3600)
    clock.advance(61)
    sessions.check_session(token, idle_s=600)  # noted
    clock.advance(560)
    assert sessions.check_session(token, idle_s=600).name == "sam"


def test_disabling_a_user_ends_their_sessions(db_accounts: SqlAccountStore) -> None:
    db_accounts.users.create_user("sam", "pw")
    sessions = db_accounts.sessions
    tokens = [sessions.create_session("sam", None, max_s=60) for _ in range(2)]
    db_accounts.users.set_user_disabled("sam", True)
    assert sessions.count_sessions("sam") == 0  # deleted, not merely refused
    db_accounts.users.set_user_disabled("sam", False)
    for token in tokens:
        with pytest.raises(AuthenticationFailed):
            sessions.check_session(token, idle_s=60)


def test_ended_sessions_are_purged(db_accounts: SqlAccountStore, clock: FakeClock) -> None:
    db_accounts.users.create_user("sam", "pw")
    sessions = db_accounts.sessions
    short = sessions.create_session("sam", None, max_s=10)
    long = sessions.create_session("sam", None, max_s=100)
    assert sessions.purge_sessions(idle_s=60) == 0
    clock.advance(10)  # the first expires
    assert sessions.purge_sessions(idle_s=60) == 1
    sessions.check_session(long, idle_s=60)
    clock.advance(30)
    assert sessions.purge_sessions(idle_s=60) == 0
    clock.advance(31)  # idle too long
    assert sessions.purge_sessions(idle_s=60) == 1 and sessions.count_sessions("sam") == 0
    assert not sessions.end_session(short)


# ---------------------------------------------------------------- throttle
def lock_at(failures: int, lockout_s: int = 600):  # type: ignore[no-untyped-def]
    """A rule counting every failure, locking the key at ``failures``."""

    def rule(counter: Lockout | None, now: datetime) -> Lockout:
        count = 1 if counter is None else counter.failures + 1
        return Lockout(key="", failures=count,
                       first_failure=now if counter is None else counter.first_failure,
                       last_failure=now, locked_until=(now + timedelta(seconds=lockout_s)
                                                       if count >= failures else None))

    return rule


def test_failures_are_counted_by_the_rule_and_lockouts_audited_once(
        db_accounts: SqlAccountStore, clock: FakeClock) -> None:
    throttle = db_accounts.throttle
    keys = ["user:kim", "addr:10.0.0.9"]
    assert throttle.get_counters(keys) == {}
    first = throttle.count_failure(keys, lock_at(3), client="10.0.0.9")
    assert [(c.key, c.failures, c.locked_until) for c in first] == [
        ("addr:10.0.0.9", 1, None), ("user:kim", 1, None)]
    clock.advance(1)
    throttle.count_failure(keys, lock_at(3))
    clock.advance(1)
    throttle.count_failure(["user:kim"], lock_at(3), client="10.0.0.9")
    counters = throttle.get_counters(keys)
    kim = counters["user:kim"]
    assert kim.failures == 3 and kim.first_failure == clock() - timedelta(seconds=2)
    assert kim.last_failure == clock() and kim.locked_until == clock() + timedelta(seconds=600)
    assert counters["addr:10.0.0.9"].locked_until is None
    throttle.count_failure(["user:kim"], lambda counter, now: counter)  # type: ignore[arg-type, return-value]
    [lockout] = db_accounts.audit.list_audit_events(action="auth.lockout")
    assert (lockout.target_type, lockout.target_id, lockout.client) == ("user", "kim",
                                                                         "10.0.0.9")
    assert lockout.details["key"] == "user:kim" and lockout.details["failures"] == 3
    assert [c.key for c in throttle.list_lockouts()] == ["user:kim"]
    assert {c.key for c in throttle.list_lockouts(every=True)} == set(keys)
    throttle.forget_failures("user:kim")  # a successful sign-in: not audited
    assert list(throttle.get_counters(keys)) == ["addr:10.0.0.9"]
    assert db_accounts.audit.list_audit_events(action="auth.unlock") == []


def test_concurrent_failures_are_all_counted(db_accounts: SqlAccountStore) -> None:
    keys = ["user:many", "addr:10.0.0.1"]

    def fail() -> None:
        for _ in range(5):
            db_accounts.throttle.count_failure(keys, lock_at(1000))

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert {k: c.failures for k, c in db_accounts.throttle.get_counters(keys).items()} == {
        "user:many": 30, "addr:10.0.0.1": 30}


def test_stale_counters_are_purged(db_accounts: SqlAccountStore, clock: FakeClock) -> None:
    throttle = db_accounts.throttle
    throttle.count_failure(["user:old"], lock_at(1000))
    throttle.count_failure(["user:locked"], lock_at(1, lockout_s=2000))
    clock.advance(901)
    throttle.count_failure(["user:recent"], lock_at(1000))
    assert throttle.purge_counters(window_s=900, quiet_s=60) == 1  # not locked, nor recent
    assert set(throttle.get_counters(["user:old", "user:locked", "user:recent"])) == {
        "user:locked", "user:recent"}


def _fail_sign_in(accounts: Accounts, db: bool, name: str) -> None:
    """One failed attempt counted for ``user:<name>``: counted in the store, or a wrong
    password sent to the server (from an address of its own)."""
    if db:
        assert isinstance(accounts, SqlAccountStore)
        accounts.throttle.count_failure([f"user:{name}"], lock_at(1000))
        return
    address = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    url = accounts._caller.conn.url  # type: ignore[attr-defined]
    answer = httpx.post(f"{url}/api/v1/auth/login", json={"username": name, "password": "x"},
                        headers={"X-Forwarded-For": address}, timeout=30)
    assert answer.status_code == 401


def test_admins_list_and_clear_counters(accounts: Accounts, store_kind: str) -> None:
    name = unique("t").replace("-", "")
    for _ in range(2):
        _fail_sign_in(accounts, store_kind != "http", name)
    assert f"user:{name}" not in {c.key for c in accounts.throttle.list_lockouts()}
    every = {c.key: c for c in accounts.throttle.list_lockouts(every=True)}
    assert every[f"user:{name}"].failures == 2
    assert len(accounts.throttle.list_lockouts(every=True, limit=1)) == 1
    cleared = accounts.throttle.clear_lockout(f"user:{name}")
    assert cleared.failures == 2 and cleared.locked_until is None
    with pytest.raises(NotFound, match="no failed attempts"):
        accounts.throttle.clear_lockout(f"user:{name}")
    [unlock] = accounts.audit.list_audit_events(action="auth.unlock", target_id=name)
    assert (unlock.user, unlock.target_type, unlock.details["failures"]) == (
        accounts.user, "user", 2)
