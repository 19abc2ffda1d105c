"""Brute-force protection: growing delays answered with 429 and ``Retry-After``,
lockouts (even with the right password) audited once and visible to admins through the
API and the CLI, unlocking, other users unaffected, failed API keys throttled alike, and
the HTTP client's side of a 429.

The rules are tested on the app in this process on a fake clock (``inprocess.py``), on
SQLite and PostgreSQL: a test moves the clock past a delay instead of waiting for it. One
test runs a real server subprocess with short settings to show the same rules wired
through ``config.json``, uvicorn and the HTTP clients.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.accounts import FAST_HASHER
from tests.helpers.cli import run_cli
from tests.helpers.server import running_server
from tests.server.inprocess import InProcessServer, inprocess_server, new_address
from tunehouse.client.accounts import HttpAccounts
from tunehouse.client.http import HttpStore
from tunehouse.client.transport import Caller, Connection
from tunehouse.errors import AuthenticationFailed, NotFound, TooManyAttempts, error_class_for
from tunehouse.server import throttle as server_throttle

#: Delays after 3 failures, no lockout in reach.
DELAYS = {"login_delay_after": 3, "login_lockout_after": 1000}
#: A lockout after 4 failures (10 minutes), no delays in reach.
LOCKOUTS = {"login_delay_after": 1000, "login_lockout_after": 4, "login_lockout_s": 600}

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_schema_url" if request.param == "sqlite" else "pg_schema_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def delays(db_url: str, tmp_path: Path) -> Iterator[InProcessServer]:
    with inprocess_server(db_url, tmp_path / "home", **DELAYS) as server:
        yield server


@pytest.fixture
def lockouts(db_url: str, tmp_path: Path) -> Iterator[InProcessServer]:
    with inprocess_server(db_url, tmp_path / "home", **LOCKOUTS) as server:
        yield server


def _user(server: InProcessServer) -> tuple[str, str, tuple[str, str]]:
    """A fresh user with a key: (name, password, (access_key, secret_key))."""
    name, password = f"b{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
    with server.admin() as api:
        assert api.post("/users", json={"name": name, "password": password}).status_code == 201
        key = api.post("/keys", json={"user": name}).json()
    return name, password, (key["access_key"], key["secret_key"])


def _login(server: InProcessServer, name: str, password: str,
           address: str | None = None) -> httpx.Response:
    with server.client(address=address) as client:
        return client.post("/api/v1/auth/login", json={"username": name, "password": password})


def _with_key(server: InProcessServer, key: tuple[str, str],
              address: str | None = None) -> httpx.Response:
    with server.client(auth=key, address=address) as client:
        return client.get("/api/v1/auth/me")


def _refused(answer: httpx.Response, retry_after: int | None = None) -> dict[str, Any]:
    """The error of a 429 answer (checking its code and ``Retry-After``)."""
    assert answer.status_code == 429, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "too_many_attempts"
    assert int(answer.headers["Retry-After"]) == error["detail"]["retry_after"]
    if retry_after is not None:
        assert error["detail"]["retry_after"] == retry_after, error
    return error


def test_growing_delays_are_429_with_retry_after(delays: InProcessServer) -> None:
    name, password, _ = _user(delays)
    for _ in range(3):  # each from another address: only the user's counter grows
        assert _login(delays, name, "wrong").status_code == 401
    error = _refused(_login(delays, name, password), 1)  # even the right password waits
    assert error["message"] == f"too many failed sign-ins for {name}: try again in 1 s"
    assert error["detail"]["key"] == f"user:{name}"
    for wait, expected in ((1, 2), (2, 4)):
        delays.clock.advance(wait - 0.5)
        _refused(_login(delays, name, "wrong"), 1)  # half a second early: refused
        delays.clock.advance(0.5)
        assert _login(delays, name, "wrong").status_code == 401
        _refused(_login(delays, name, "wrong"), expected)  # refused: not counted
    delays.clock.advance(4)
    assert _login(delays, name, password).status_code == 200  # resets the user's counter
    assert [_login(delays, name, "wrong").status_code for _ in range(3)] == [401] * 3


def test_delays_grow_to_a_minute_at_most(delays: InProcessServer) -> None:
    name, _, _ = _user(delays)
    waits = []
    for _ in range(12):
        answer = _login(delays, name, "wrong")
        if answer.status_code == 429:
            waits.append(_refused(answer)["detail"]["retry_after"])
            delays.clock.advance(waits[-1])
            assert _login(delays, name, "wrong").status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_an_address_counts_every_user_and_a_success_does_not_reset_it(
        delays: InProcessServer) -> None:
    address = new_address()
    first, second, third = (_user(delays) for _ in range(3))
    assert _login(delays, first[0], "wrong", address).status_code == 401
    assert _login(delays, second[0], "wrong", address).status_code == 401
    assert _login(delays, third[0], third[1], address).status_code == 200
    assert _login(delays, "nobody-" + uuid.uuid4().hex[:6], "x", address).status_code == 401
    error = _refused(_login(delays, third[0], third[1], address), 1)
    assert error["message"] == (f"too many failed sign-ins and API-key checks from "
                                f"{address}: try again in 1 s")
    assert _login(delays, third[0], third[1]).status_code == 200  # from elsewhere


class MeetingHasher:
    """:data:`FAST_HASHER`, whose checks wait until ``parties`` of them run at once: the
    first attempts admitted are all still being checked when the others arrive."""

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties, timeout=60)

    def hash(self, password: str) -> str:
        return FAST_HASHER.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        self._barrier.wait()
        return FAST_HASHER.verify(password_hash, password)


def test_parallel_attempts_cannot_slip_past_the_delays(db_url: str, tmp_path: Path) -> None:
    hasher = MeetingHasher(DELAYS["login_delay_after"])
    with inprocess_server(db_url, tmp_path / "home", hasher=hasher, **DELAYS) as server:
        name, _, _ = _user(server)
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: _login(server, name, "wrong").status_code,
                                    range(12)))
    assert Counter(answers) == {401: 3, 429: 9}


def test_failed_api_keys_are_throttled_the_same_way(delays: InProcessServer) -> None:
    _, _, key = _user(delays)
    access, secret = key
    for _ in range(3):
        assert _with_key(delays, (access, "wrong")).status_code == 401
    error = _refused(_with_key(delays, (access, "wrong")), 1)
    assert error["message"] == (f"too many failed API-key checks with API key {access}: "
                                "try again in 1 s")
    assert _with_key(delays, key).status_code == 200  # a valid key is never refused
    delays.clock.advance(1)
    assert _with_key(delays, (access, "wrong")).status_code == 401
    _refused(_with_key(delays, (access, "wrong")), 2)
    # unknown access keys count for the address they come from
    address = new_address()
    for _ in range(3):
        unknown = ("TH" + uuid.uuid4().hex[:20].upper(), "x")
        assert _with_key(delays, unknown, address).status_code == 401
    error = _refused(_with_key(delays, ("THNOSUCHKEY", "x"), address), 1)
    assert error["detail"]["key"] == f"addr:{address}"
    assert _with_key(delays, key, address).status_code == 200


def test_lockout_even_with_the_right_password_audited_once(lockouts: InProcessServer) -> None:
    name, password, key = _user(lockouts)
    for _ in range(4):
        assert _login(lockouts, name, "wrong").status_code == 401
    for attempt in (password, "wrong", password):
        error = _refused(_login(lockouts, name, attempt), 600)
        assert error["message"].startswith(
            f"too many failed sign-ins for {name}: locked until 20")
    assert _with_key(lockouts, key).status_code == 200  # the user's keys still work
    other, other_password, other_key = _user(lockouts)  # another user is unaffected
    assert _login(lockouts, other, other_password).status_code == 200
    lockouts.clock.advance(599)
    _refused(_login(lockouts, name, password), 1)
    with lockouts.admin() as api:
        audit = api.get("/audit", params={"action": "auth.lockout", "target_type": "user",
                                          "target_id": name}).json()
        assert len(audit) == 1
        assert audit[0]["details"]["key"] == f"user:{name}"
        assert audit[0]["details"]["failures"] == 4
        listed = {entry["key"]: entry for entry in api.get("/auth/lockouts").json()}
        assert listed[f"user:{name}"]["failures"] == 4
        assert listed[f"user:{name}"]["locked_until"] is not None
        with lockouts.client(auth=other_key) as denied:
            assert denied.get("/api/v1/auth/lockouts").status_code == 403
        cleared = api.delete(f"/auth/lockouts/user:{name}").json()
        assert cleared["failures"] == 4 and cleared["locked_until"] is not None
        assert api.delete(f"/auth/lockouts/user:{name}").status_code == 404
        assert f"user:{name}" not in {e["key"] for e in api.get("/auth/lockouts").json()}
        unlocks = api.get("/audit", params={"action": "auth.unlock", "target_id": name})
        assert [event["user"] for event in unlocks.json()] == ["admin"]
    assert _login(lockouts, name, password).status_code == 200  # at once: same process


def test_a_lockout_ends_and_counting_starts_again(lockouts: InProcessServer) -> None:
    name, password, _ = _user(lockouts)
    for _ in range(4):
        assert _login(lockouts, name, "wrong").status_code == 401
    lockouts.clock.advance(600)
    assert _login(lockouts, name, "wrong").status_code == 401  # failure 1 of a new count
    for _ in range(2):
        assert _login(lockouts, name, "wrong").status_code == 401
    lockouts.clock.advance(15 * 60 + 1)  # past the window: the count starts again
    for _ in range(3):
        assert _login(lockouts, name, "wrong").status_code == 401
    assert _login(lockouts, name, password).status_code == 200


def test_an_address_is_locked_for_every_user(lockouts: InProcessServer) -> None:
    address = new_address()
    for _ in range(4):
        assert _login(lockouts, _user(lockouts)[0], "wrong", address).status_code == 401
    name, password, _ = _user(lockouts)
    error = _refused(_login(lockouts, name, password, address))
    assert error["message"].startswith(
        f"too many failed sign-ins and API-key checks from {address}: locked until ")
    assert _login(lockouts, name, password).status_code == 200


def test_the_sign_in_form_shows_the_refusal(lockouts: InProcessServer) -> None:
    name, password, _ = _user(lockouts)
    with lockouts.client() as browser:

        def submit(secret: str) -> httpx.Response:
            form = browser.get("/login").text
            token = re.search(r'name="login_token" value="([^"]+)"', form)
            assert token
            return browser.post("/login", data={"username": name, "password": secret,
                                                "login_token": token.group(1), "next": "/"},
                                follow_redirects=False)

        for _ in range(4):
            assert submit("wrong").status_code == 401
        page = submit(password)
    assert page.status_code == 429 and int(page.headers["Retry-After"]) == 600
    error = re.search(r'<p class="error" role="alert">([^<]*)</p>', page.text)
    assert error and error.group(1).startswith(
        f"too many failed sign-ins for {name}: locked until 20")
    assert "tunehouse_session" not in page.headers.get("set-cookie", "")


def test_the_cli_lists_and_unlocks_lockouts(lockouts: InProcessServer) -> None:
    name, password, _ = _user(lockouts)
    for _ in range(4):
        assert _login(lockouts, name, "wrong").status_code == 401
    _refused(_login(lockouts, name, password))

    def users(*args: str) -> str:
        result = run_cli("users", *args, "--data-dir", str(lockouts.home),
                         "--db", lockouts.db_url)
        assert result.returncode == 0, result.stderr
        return result.stdout

    listed = users("lockouts")
    assert f"user:{name}" in listed and "locked until" in listed
    assert users("unlock", name).startswith(f"unlocked user:{name} (4 failures, ")
    assert f"user:{name}" not in users("lockouts")
    # the server remembers a refusal it read for up to REMEMBER_S: the CLI's unlock (made
    # on the table, not through the server) takes effect within that time
    _refused(_login(lockouts, name, password))
    lockouts.clock.advance(server_throttle.REMEMBER_S)
    assert _login(lockouts, name, password).status_code == 200


def test_a_real_server_throttles_with_the_settings_of_its_config(tmp_path: Path) -> None:
    """The wiring: ``config.json`` -> settings -> the app under uvicorn (client addresses
    from ``X-Forwarded-For``), answered to the HTTP clients as TooManyAttempts."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({**LOCKOUTS, "login_lockout_after": 3,
                                                  "session_max_s": 5}))
    with running_server(home) as server:
        admin = HttpAccounts(server.url, server.access_key, server.secret_key)
        name, password = "carl", "carl-password"
        admin.users.create_user(name, password)
        key = admin.keys.create_api_key(name)

        def login(secret: str) -> httpx.Response:
            return httpx.post(f"{server.url}/api/v1/auth/login", timeout=30,
                              json={"username": name, "password": secret},
                              headers={"X-Forwarded-For": new_address()})

        assert "max-age=5" in login(password).headers["set-cookie"].lower()
        assert [login("wrong").status_code for _ in range(3)] == [401] * 3
        _refused(login(password))
        store = HttpStore(server.url, key.access_key, "wrong")
        try:
            for _ in range(3):
                with pytest.raises(AuthenticationFailed) as refused:
                    store.tasks.list_projects()
                assert not isinstance(refused.value, TooManyAttempts)
            with pytest.raises(TooManyAttempts) as caught:
                store.tasks.list_projects()
            assert 590 <= (caught.value.retry_after or 0) <= 600
        finally:
            store.close()
        with HttpStore(server.url, key.access_key, key.secret_key) as valid:
            assert valid.tasks.list_projects() is not None  # a valid key is never refused
        locked = {entry.key for entry in admin.throttle.list_lockouts()}
        assert {f"user:{name}", f"key:{key.access_key}"} <= locked
        assert admin.throttle.clear_lockout(f"user:{name}").failures == 3
        with pytest.raises(NotFound):
            admin.throttle.clear_lockout(f"user:{name}")
        assert login(password).status_code == 200  # the API's unlock: at once
        admin.close()


def test_the_http_client_maps_429_and_never_resends_a_sign_in() -> None:
    assert error_class_for("too_many_attempts", 429) is TooManyAttempts
    assert error_class_for("", 429) is TooManyAttempts
    assert error_class_for("", 401) is AuthenticationFailed
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = {"error": {"code": "too_many_attempts", "message": "too many failed sign-ins "
                          "for alice: try again in 7 s", "detail": {"key": "user:alice"}}}
        return httpx.Response(429, json=body, headers={"Retry-After": "7"})

    conn = Connection("http://127.0.0.1:9", "THKEY", "secret", timeout=5)
    conn.client = httpx.Client(base_url=conn.url + "/api/v1",
                               transport=httpx.MockTransport(answer))
    try:
        with pytest.raises(TooManyAttempts) as caught:
            Caller(conn).send("server.login", body={"username": "alice", "password": "pw"})
    finally:
        conn.close()
    assert caught.value.retry_after == 7 and "try again in 7 s" in caught.value.message
    assert len(sent) == 1
