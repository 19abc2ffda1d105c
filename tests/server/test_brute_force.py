"""Brute-force protection through real servers: growing delays answered with 429 and
``Retry-After``, lockouts (even with the right password) audited once and visible to
admins through the API, the admin client and the CLI, unlocking, other users unaffected,
failed API keys throttled alike, and the HTTP client's side of a 429."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.server import ServerProcess, clean_env, running_server
from tests.server.conftest import fresh_pg_database
from tunehouse.client.admin import AdminClient
from tunehouse.client.http import HttpStore
from tunehouse.client.transport import Caller, Connection
from tunehouse.errors import AuthenticationFailed, NotFound, TooManyAttempts, error_class_for
from tunehouse.server import throttle as server_throttle

#: Delays after 3 failures, no lockout in reach.
DELAYS = {"login_delay_after": 3, "login_lockout_after": 1000}
#: A lockout after 4 failures (10 minutes), no delays in reach.
LOCKOUTS = {"login_delay_after": 1000, "login_lockout_after": 4, "login_lockout_s": 600}


def _server(tmp_path_factory: pytest.TempPathFactory, kind: str,
            settings: dict[str, Any]) -> Iterator[ServerProcess]:
    home: Path = tmp_path_factory.mktemp("throttled") / "home"
    home.mkdir()
    (home / "config.json").write_text(json.dumps(settings))
    if kind == "sqlite":
        with running_server(home) as server:
            yield server
        return
    url, drop = fresh_pg_database()
    try:
        with running_server(home, db_url=url) as server:
            yield server
    finally:
        drop()  # type: ignore[operator]


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=KINDS)
def delays(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _server(tmp_path_factory, request.param, DELAYS)


@pytest.fixture(scope="module", params=KINDS)
def lockouts(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _server(tmp_path_factory, request.param, LOCKOUTS)


def _address() -> str:
    """A client address of its own (uvicorn trusts X-Forwarded-For from 127.0.0.1)."""
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def _admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", timeout=30,
                        auth=(server.access_key, server.secret_key))


def _user(server: ServerProcess) -> tuple[str, str, tuple[str, str]]:
    """A fresh user with a key: (name, password, (access_key, secret_key))."""
    name, password = f"b{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
    with _admin(server) as api:
        assert api.post("/users", json={"name": name, "password": password}).status_code == 201
        key = api.post("/keys", json={"user": name}).json()
    return name, password, (key["access_key"], key["secret_key"])


def _login(server: ServerProcess, name: str, password: str,
           address: str | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/api/v1/auth/login",
                      json={"username": name, "password": password},
                      headers={"X-Forwarded-For": address or _address()}, timeout=30)


def _with_key(server: ServerProcess, key: tuple[str, str],
              address: str | None = None) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/auth/me", auth=key,
                     headers={"X-Forwarded-For": address or _address()}, timeout=30)


def _refused(answer: httpx.Response, retry_after: int | None = None) -> dict[str, Any]:
    """The error of a 429 answer (checking its code and ``Retry-After``)."""
    assert answer.status_code == 429, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "too_many_attempts"
    assert int(answer.headers["Retry-After"]) == error["detail"]["retry_after"]
    if retry_after is not None:
        assert error["detail"]["retry_after"] == retry_after, error
    return error


def test_growing_delays_are_429_with_retry_after(delays: ServerProcess) -> None:
    name, password, _ = _user(delays)
    for _ in range(3):  # each from another address: only the user's counter grows
        assert _login(delays, name, "wrong").status_code == 401
    error = _refused(_login(delays, name, password), 1)  # even the right password waits
    assert error["message"] == f"too many failed sign-ins for {name}: try again in 1 s"
    assert error["detail"]["key"] == f"user:{name}"
    for wait, expected in ((1, 2), (2, 4)):
        time.sleep(wait)
        assert _login(delays, name, "wrong").status_code == 401
        _refused(_login(delays, name, "wrong"), expected)  # refused: not counted
    time.sleep(4)
    assert _login(delays, name, password).status_code == 200  # resets the user's counter
    assert [_login(delays, name, "wrong").status_code for _ in range(3)] == [401] * 3


def test_an_address_counts_every_user_and_a_success_does_not_reset_it(
        delays: ServerProcess) -> None:
    address = _address()
    first, second, third = (_user(delays) for _ in range(3))
    assert _login(delays, first[0], "wrong", address).status_code == 401
    assert _login(delays, second[0], "wrong", address).status_code == 401
    assert _login(delays, third[0], third[1], address).status_code == 200
    assert _login(delays, "nobody-" + uuid.uuid4().hex[:6], "x", address).status_code == 401
    error = _refused(_login(delays, third[0], third[1], address), 1)
    assert error["message"] == (f"too many failed sign-ins and API-key checks from "
                                f"{address}: try again in 1 s")
    assert _login(delays, third[0], third[1]).status_code == 200  # from elsewhere


def test_parallel_attempts_cannot_slip_past_the_delays(delays: ServerProcess) -> None:
    name, _, _ = _user(delays)
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: _login(delays, name, "wrong").status_code,
                                range(12)))
    assert Counter(answers) == {401: 3, 429: 9}


def test_failed_api_keys_are_throttled_the_same_way(delays: ServerProcess) -> None:
    _, _, key = _user(delays)
    access, secret = key
    for _ in range(3):
        assert _with_key(delays, (access, "wrong")).status_code == 401
    error = _refused(_with_key(delays, (access, "wrong")), 1)
    assert error["message"] == (f"too many failed API-key checks with API key {access}: "
                                "try again in 1 s")
    assert _with_key(delays, key).status_code == 200  # a valid key is never refused
    time.sleep(1)
    assert _with_key(delays, (access, "wrong")).status_code == 401
    _refused(_with_key(delays, (access, "wrong")), 2)
    # unknown access keys count for the address they come from
    address = _address()
    for _ in range(3):
        unknown = ("TH" + uuid.uuid4().hex[:20].upper(), "x")
        assert _with_key(delays, unknown, address).status_code == 401
    error = _refused(_with_key(delays, ("THNOSUCHKEY", "x"), address), 1)
    assert error["detail"]["key"] == f"addr:{address}"
    assert _with_key(delays, key, address).status_code == 200
    # and the HTTP client raises the 429 as TooManyAttempts (an AuthenticationFailed)
    store = HttpStore(delays.url, access, "wrong")
    try:
        with pytest.raises(TooManyAttempts) as caught:
            store.tasks.list_projects()
        assert caught.value.retry_after == 2 and isinstance(caught.value, AuthenticationFailed)
    finally:
        store.close()


def test_lockout_even_with_the_right_password_audited_once(lockouts: ServerProcess) -> None:
    name, password, key = _user(lockouts)
    for _ in range(4):
        assert _login(lockouts, name, "wrong").status_code == 401
    for attempt in (password, "wrong", password):
        error = _refused(_login(lockouts, name, attempt))
        assert error["message"].startswith(
            f"too many failed sign-ins for {name}: locked until 20")
        assert 590 <= error["detail"]["retry_after"] <= 600
    assert _with_key(lockouts, key).status_code == 200  # the user's keys still work
    other, other_password, other_key = _user(lockouts)  # another user is unaffected
    assert _login(lockouts, other, other_password).status_code == 200
    with _admin(lockouts) as api:
        audit = api.get("/audit", params={"action": "auth.lockout", "target_type": "user",
                                          "target_id": name}).json()
        assert len(audit) == 1
        assert audit[0]["details"]["key"] == f"user:{name}"
        assert audit[0]["details"]["failures"] == 4
        listed = {entry["key"]: entry for entry in api.get("/auth/lockouts").json()}
        assert listed[f"user:{name}"]["failures"] == 4
        assert listed[f"user:{name}"]["locked_until"] is not None
    denied = httpx.get(f"{lockouts.url}/api/v1/auth/lockouts", auth=other_key, timeout=30)
    assert denied.status_code == 403
    with AdminClient(lockouts.url, lockouts.access_key, lockouts.secret_key) as admin:
        assert f"user:{name}" in {entry.key for entry in admin.list_lockouts()}
        assert f"user:{name}" in {entry.key for entry in admin.list_lockouts(every=True)}
        cleared = admin.clear_lockout(f"user:{name}")
        assert cleared.failures == 4 and cleared.locked_until is not None
        with pytest.raises(NotFound):
            admin.clear_lockout(f"user:{name}")
        assert f"user:{name}" not in {entry.key for entry in admin.list_lockouts()}
        unlocks = admin.list_audit_events(target_type="user", target_id=name,
                                          action="auth.unlock")
        assert [event.user for event in unlocks] == [lockouts.admin_user]
    assert _login(lockouts, name, password).status_code == 200


def test_an_address_is_locked_for_every_user(lockouts: ServerProcess) -> None:
    address = _address()
    for _ in range(4):
        assert _login(lockouts, _user(lockouts)[0], "wrong", address).status_code == 401
    name, password, _ = _user(lockouts)
    error = _refused(_login(lockouts, name, password, address))
    assert error["message"].startswith(
        f"too many failed sign-ins and API-key checks from {address}: locked until ")
    assert _login(lockouts, name, password).status_code == 200


def test_the_sign_in_form_shows_the_refusal(lockouts: ServerProcess) -> None:
    name, password, _ = _user(lockouts)
    with httpx.Client(base_url=lockouts.url, timeout=30,
                      headers={"X-Forwarded-For": _address()}) as browser:

        def submit(secret: str) -> httpx.Response:
            form = browser.get("/login").text
            token = re.search(r'name="login_token" value="([^"]+)"', form)
            assert token
            return browser.post("/login", data={"username": name, "password": secret,
                                                "login_token": token.group(1), "next": "/"})

        for _ in range(4):
            assert submit("wrong").status_code == 401
        page = submit(password)
    assert page.status_code == 429 and 590 <= int(page.headers["Retry-After"]) <= 600
    error = re.search(r'<p class="error" role="alert">([^<]*)</p>', page.text)
    assert error and error.group(1).startswith(
        f"too many failed sign-ins for {name}: locked until 20")
    assert "tunehouse_session" not in page.headers.get("set-cookie", "")


def _cli(server: ServerProcess, *args: str) -> str:
    command = [sys.executable, "-m", "tunehouse", "users", *args,
               "--data-dir", str(server.home)]
    if server.db_url:
        command += ["--db", server.db_url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env=clean_env())
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_cli_lists_and_unlocks_lockouts(lockouts: ServerProcess) -> None:
    name, password, _ = _user(lockouts)
    for _ in range(4):
        assert _login(lockouts, name, "wrong").status_code == 401
    _refused(_login(lockouts, name, password))
    listed = _cli(lockouts, "lockouts")
    assert f"user:{name}" in listed and "locked until" in listed
    assert _cli(lockouts, "unlock", name).startswith(f"unlocked user:{name} (4 failures, ")
    assert f"user:{name}" not in _cli(lockouts, "lockouts")
    # the server remembers a refusal it read for up to REMEMBER_S: the CLI's unlock (made
    # on the table, not through the server) takes effect within that time
    deadline = time.monotonic() + server_throttle.REMEMBER_S + 2
    while (status := _login(lockouts, name, password).status_code) == 429:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert status == 200


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

