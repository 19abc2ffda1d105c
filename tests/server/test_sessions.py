"""Web sessions kept on the server: signing out, disabling a user, idle and absolute
timeouts, several sessions of one user, the cookies' flags and the watchdog's cleanup.

The timeouts are tested on the app in this process with a fake clock (``inprocess.py``);
the store's side of sessions is in the contract suite
(``tests/store/contract/test_sign_in.py``)."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import Response

from tests.helpers.accounts import FAST_HASHER
from tests.helpers.clock import FakeClock
from tests.helpers.server import ServerProcess
from tests.server.inprocess import inprocess_server
from tunehouse.contract import CSRF_COOKIE, SESSION_COOKIE
from tunehouse.server.accounts import open_accounts
from tunehouse.server.auth import SessionSigner, set_session_cookies
from tunehouse.server.sessions import Sessions
from tunehouse.server.watchdog import Watchdog
from tunehouse.store import schema as t
from tunehouse.store.sql import SqlStore


def _own_address() -> dict[str, str]:
    """A client address of this test's own (uvicorn trusts ``X-Forwarded-For`` from
    127.0.0.1): its sign-ins never meet another test's failures in the throttle."""
    return {"X-Forwarded-For": f"198.19.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"}


def _new_user(api: httpx.Client) -> tuple[str, str, tuple[str, str]]:
    """A fresh user: (name, password, (access_key, secret_key))."""
    name = f"s{uuid.uuid4().hex[:10]}"
    password = "pw-" + uuid.uuid4().hex
    assert api.post("/users", json={"name": name, "password": password}).status_code == 201
    key = api.post("/keys", json={"user": name}).json()
    return name, password, (key["access_key"], key["secret_key"])


def _browser(server: ServerProcess, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, headers={**_own_address(), **headers})


def _sign_in(browser: httpx.Client, name: str, password: str) -> tuple[str, str]:
    """Sign in through the API: the session token and its CSRF token."""
    answer = browser.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.cookies[SESSION_COOKIE], answer.cookies[CSRF_COOKIE]


def _me(server: ServerProcess, token: str) -> int:
    """The status of ``GET /auth/me`` with session cookie ``token`` alone (a replay)."""
    return httpx.get(f"{server.url}/api/v1/auth/me", cookies={SESSION_COOKIE: token},
                     timeout=30).status_code


def _database(server: ServerProcess) -> sa.Engine:
    return sa.create_engine(server.db_url or f"sqlite:///{server.home / 'tunehouse.db'}")


def test_logout_ends_the_session_on_the_server(api: httpx.Client, server: ServerProcess) -> None:
    name, password, _ = _new_user(api)
    with _browser(server) as browser:
        token, csrf = _sign_in(browser, name, password)
        engine = _database(server)
        try:
            with engine.connect() as conn:
                row = conn.execute(sa.select(t.sessions).where(
                    t.sessions.c.id == hashlib.sha256(token.encode()).hexdigest())).one()
                assert conn.execute(sa.select(t.sessions)
                                    .where(t.sessions.c.id == token)).first() is None
        finally:
            engine.dispose()
        assert row.user == name and row.client.startswith("198.19.")
        assert len(token) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
        assert _me(server, token) == 200
        answer = browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 204
    assert _me(server, token) == 401  # replaying the old cookie: the session is gone
    page = httpx.get(f"{server.url}/projects", cookies={SESSION_COOKIE: token},
                     headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_the_ui_sign_out_ends_the_session_on_the_server(api: httpx.Client,
                                                       server: ServerProcess) -> None:
    name, password, _ = _new_user(api)
    with _browser(server) as browser:
        form = browser.get("/login").text
        login_token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert login_token
        signed_in = browser.post("/login", data={
            "username": name, "password": password, "login_token": login_token.group(1),
            "next": "/projects"})
        assert signed_in.status_code == 303
        token, csrf = browser.cookies[SESSION_COOKIE], browser.cookies[CSRF_COOKIE]
        assert _me(server, token) == 200
        refused = browser.post("/logout", data={"csrf": "not-the-token"})
        assert refused.status_code == 403 and _me(server, token) == 200
        assert browser.post("/logout", data={"csrf": csrf}).status_code == 303
    assert _me(server, token) == 401


def test_disabling_a_user_ends_their_sessions_and_refuses_their_keys(
        api: httpx.Client, server: ServerProcess) -> None:
    name, password, key = _new_user(api)
    with _browser(server) as one, _browser(server) as two:
        first, _ = _sign_in(one, name, password)
        second, _ = _sign_in(two, name, password)
    assert _me(server, first) == 200 and _me(server, second) == 200
    with httpx.Client(base_url=f"{server.url}/api/v1", auth=key, timeout=30) as agent:
        assert agent.get("/auth/me").status_code == 200
        assert api.patch(f"/users/{name}", json={"disabled": True}).status_code == 200
        assert agent.get("/auth/me").status_code == 401  # at once: no cache of users
        assert _me(server, first) == 401 and _me(server, second) == 401
        engine = _database(server)
        try:
            with engine.connect() as conn:
                left = conn.execute(sa.select(sa.func.count()).select_from(t.sessions)
                                    .where(t.sessions.c.user == name)).scalar_one()
        finally:
            engine.dispose()
        assert left == 0  # deleted with the change, not merely refused
        assert api.patch(f"/users/{name}", json={"disabled": False}).status_code == 200
        assert agent.get("/auth/me").status_code == 200  # the key was kept
    assert _me(server, first) == 401 and _me(server, second) == 401  # sessions stay ended


def test_sessions_of_one_user_are_independent(api: httpx.Client, server: ServerProcess) -> None:
    name, password, _ = _new_user(api)
    with _browser(server) as laptop, _browser(server) as phone:
        token_a, csrf_a = _sign_in(laptop, name, password)
        token_b, csrf_b = _sign_in(phone, name, password)
        assert token_a != token_b and csrf_a != csrf_b
        # one session's CSRF token is no good for the other
        wrong = laptop.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf_b})
        assert wrong.status_code == 403
        assert laptop.post("/api/v1/auth/logout",
                           headers={"X-CSRF-Token": csrf_a}).status_code == 204
        assert _me(server, token_a) == 401
        assert phone.get("/api/v1/auth/me").json()["name"] == name
        answer = phone.put("/api/v1/preferences/theme", json={"value": "dark"},
                           headers={"X-CSRF-Token": csrf_b})
        assert answer.status_code == 200, answer.text


def test_cookie_flags_over_http_and_behind_an_https_proxy(api: httpx.Client,
                                                          server: ServerProcess) -> None:
    name, password, _ = _new_user(api)
    for proto, secure in ((None, False), ("https", True)):
        headers = {"X-Forwarded-Proto": proto} if proto else {}
        with _browser(server, **headers) as browser:
            answer = browser.post("/api/v1/auth/login",
                                  json={"username": name, "password": password})
            assert answer.status_code == 200
        cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
        session, csrf = cookies[SESSION_COOKIE], cookies[CSRF_COOKIE]
        assert "httponly" in session and "httponly" not in csrf
        for cookie in (session, csrf):
            assert "samesite=strict" in cookie and "path=/" in cookie
            assert "max-age=43200" in cookie  # the absolute timeout (12 h by default)
            assert ("; secure" in cookie) is secure, (proto, cookie)


@pytest.mark.parametrize("secure", [True, False])
def test_set_session_cookies_sets_secure_only_over_https(secure: bool) -> None:
    response = Response()
    signer = SessionSigner(b"k" * 32)
    set_session_cookies(response, signer, "a-token", secure=secure, max_age=60)
    cookies = [value.decode().lower() for name, value in response.raw_headers
               if name == b"set-cookie"]
    assert len(cookies) == 2
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE))
    csrf = next(c for c in cookies if c.startswith(CSRF_COOKIE))
    assert f"={signer.csrf_token('a-token').lower()};" in csrf
    assert "httponly" in session and "httponly" not in csrf
    for cookie in (session, csrf):
        assert ("secure" in cookie) is secure
        assert "samesite=strict" in cookie and "max-age=60" in cookie


def test_idle_and_absolute_timeouts(tmp_path: Path, sqlite_schema_url: str) -> None:
    """On the app in this process with a fake clock: sessions that end after 2 s idle and
    5 s in all, the clock moved instead of waiting."""
    with inprocess_server(sqlite_schema_url, tmp_path / "home", session_idle_s=2,
                          session_max_s=5) as server:
        with server.admin() as api:
            name, password, _ = _new_user(api)

        def me(token: str) -> int:
            with server.client() as client:
                return client.get("/api/v1/auth/me",
                                  cookies={SESSION_COOKIE: token}).status_code

        def sign_in() -> str:
            with server.client() as browser:
                answer = browser.post("/api/v1/auth/login",
                                      json={"username": name, "password": password})
            assert answer.status_code == 200, answer.text
            assert "max-age=5" in answer.headers["set-cookie"].lower()
            return answer.cookies[SESSION_COOKIE]

        used, left = sign_in(), sign_in()
        for _ in range(7):  # used every 0.5 s, 3.5 s in all: past the idle timeout
            server.clock.advance(0.5)
            assert me(used) == 200
        assert me(left) == 401  # idle for 3.5 s > 2 s
        server.clock.advance(1.4)
        assert me(used) == 200  # 4.9 s after signing in
        server.clock.advance(0.1)
        assert me(used) == 401  # ended by the absolute timeout at 5 s


def test_the_watchdog_deletes_ended_sessions(tmp_path: Path) -> None:
    clock = FakeClock()
    with SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "blobs") as store:
        accounts = open_accounts(store, clock=clock, hasher=FAST_HASHER)
        accounts.users.create_user("sam", "a password")
        sessions = Sessions(accounts.sessions, max_s=60, idle_s=1)
        tokens = [sessions.create("sam", "10.0.0.1") for _ in range(3)]
        assert sessions.check(tokens[0]).name == "sam"
        watchdog = Watchdog(store, lost_after_s=300)
        watchdog.add_cleanup("ended sessions", sessions.purge)
        assert watchdog.run_cleanups() == 0
        clock.advance(1.2)
        assert accounts.sessions.count_sessions("sam") == 3
        assert watchdog.run_cleanups() == 3
        assert accounts.sessions.count_sessions("sam") == 0
        assert not sessions.end(tokens[1])
