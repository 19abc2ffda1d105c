"""Authentication and authorisation through a real server."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from tests.helpers.server import ServerProcess
from tunehouse.client.http import HttpStore
from tunehouse.errors import AuthenticationFailed, PermissionDenied
from tunehouse.store.records import TaskCreate

PROTECTED = [("GET", "/tasks"), ("GET", "/projects"), ("GET", "/users"), ("POST", "/events"),
             ("GET", "/queues"), ("GET", "/auth/me"), ("PUT", "/blobs"), ("POST", "/auth/logout"),
             ("GET", "/blobs/" + "0" * 64), ("GET", "/audit")]


def _error(response: httpx.Response) -> dict:
    return response.json()["error"]


def _own_address() -> dict[str, str]:
    """Headers giving a client an address of its own (uvicorn trusts ``X-Forwarded-For``
    from 127.0.0.1), so that the failed sign-ins and key checks a test makes on purpose
    count for it alone, not for 127.0.0.1, which every test shares (brute-force throttle)."""
    return {"X-Forwarded-For": f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"}


def _new_user(api: httpx.Client, admin: bool = False) -> tuple[str, str, str, str]:
    """A fresh user with a key: (name, password, access_key, secret_key)."""
    name = f"u{uuid.uuid4().hex[:8]}"
    password = "pw-" + uuid.uuid4().hex
    assert api.post("/users", json={"name": name, "password": password, "admin": admin}
                    ).status_code == 201
    key = api.post("/keys", json={"user": name, "description": "test"}).json()
    return name, password, key["access_key"], key["secret_key"]


def test_health_and_docs_need_no_credentials(anon: httpx.Client) -> None:
    health = anon.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["schema_ok"] is True
    assert body["db"] in ("sqlite", "postgresql") and body["version"]
    assert anon.get("/openapi.json").status_code == 200
    assert anon.get("/docs").status_code == 200


def test_the_api_docs_cannot_be_framed_like_every_page(anon: httpx.Client) -> None:
    login_page = str(anon.base_url).removesuffix("/api/v1/") + "/login"
    for response in (anon.get("/docs"), anon.get(login_page)):
        assert response.status_code == 200
        assert response.headers["x-frame-options"] == "DENY"
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self';" in policy  # nothing inline: the page's script is a file
    assert "<script>" not in anon.get("/docs").text


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_credentials_is_401(anon: httpx.Client, method: str, path: str) -> None:
    response = anon.request(method, path)
    assert response.status_code == 401
    assert _error(response)["code"] == "unauthenticated"


@pytest.mark.parametrize("header", [
    "Bearer abc",
    "Basic",
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b":only-secret").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
])
def test_malformed_authorization_is_401(anon: httpx.Client, header: str) -> None:
    response = anon.get("/tasks", headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert _error(response)["code"] == "unauthenticated"


def test_wrong_secret_and_unknown_key_are_401(server: ServerProcess, anon: httpx.Client) -> None:
    own = _own_address()
    assert anon.get("/tasks", auth=(server.access_key, "wrong"), headers=own).status_code == 401
    assert anon.get("/tasks", auth=("THNOSUCHKEY", server.secret_key), headers=own
                    ).status_code == 401
    assert anon.get("/tasks", auth=(server.access_key, server.secret_key)).status_code == 200


def test_revoked_key_is_401(api: httpx.Client, anon: httpx.Client) -> None:
    _, _, access, secret = _new_user(api)
    assert anon.get("/auth/me", auth=(access, secret)).status_code == 200
    assert api.post(f"/keys/{access}/revoke").json()["revoked"] is True
    response = anon.get("/auth/me", auth=(access, secret))
    assert response.status_code == 401
    assert _error(response)["code"] == "unauthenticated"


def test_disabled_user_is_401_until_enabled(api: httpx.Client, anon: httpx.Client) -> None:
    name, _, access, secret = _new_user(api)
    assert anon.get("/tasks", auth=(access, secret)).status_code == 200
    assert api.patch(f"/users/{name}", json={"disabled": True}).json()["disabled"] is True
    assert anon.get("/tasks", auth=(access, secret)).status_code == 401
    api.patch(f"/users/{name}", json={"disabled": False})
    assert anon.get("/tasks", auth=(access, secret)).status_code == 200


def test_non_admin_gets_403_on_admin_routes(api: httpx.Client, anon: httpx.Client,
                                             server: ServerProcess) -> None:
    name, _, access, secret = _new_user(api)
    auth = (access, secret)
    for method, path, body in [("GET", "/users", None),
                               ("POST", "/users", {"name": "x1", "password": "secret-pw"}),
                               ("PATCH", "/users/admin", {"disabled": True}),
                               ("GET", "/users/admin", None),
                               ("POST", "/keys", {"user": "admin"}),
                               ("GET", "/keys?user=admin", None),
                               ("POST", f"/keys/{server.access_key}/revoke", None)]:
        response = anon.request(method, path, json=body, auth=auth)
        assert response.status_code == 403, (method, path, response.text)
        assert _error(response)["code"] == "forbidden"
    # ... but may manage its own keys and read itself
    assert anon.get(f"/users/{name}", auth=auth).status_code == 200
    own = anon.post("/keys", json={"description": "mine"}, auth=auth)
    assert own.status_code == 201 and own.json()["user"] == name
    listed = anon.get("/keys", auth=auth).json()
    assert {k["user"] for k in listed} == {name} and len(listed) == 2
    assert anon.post(f"/keys/{own.json()['access_key']}/revoke", auth=auth).status_code == 200


def test_writes_act_as_the_authenticated_user(api: httpx.Client, server: ServerProcess) -> None:
    name, _, access, secret = _new_user(api)
    store = HttpStore(server.url, access, secret)
    try:
        assert store.user == name
        task = store.tasks.create_task(TaskCreate(project="auth/acting", name="mine"))
        assert task.user == name
        with pytest.raises(PermissionDenied):
            store.with_user("admin").tasks.create_task(TaskCreate(project="auth/acting", name="x"))
    finally:
        store.close()
    admin = server.store()
    try:
        task = admin.with_user(name).tasks.create_task(TaskCreate(project="auth/acting", name="for"))
        assert task.user == name
    finally:
        admin.close()


def test_http_store_raises_authentication_failed(server: ServerProcess) -> None:
    store = HttpStore(server.url, server.access_key, "wrong-secret")
    store._caller.conn.client.headers.update(_own_address())
    try:
        with pytest.raises(AuthenticationFailed):
            store.tasks.list_projects()
    finally:
        store.close()


def test_login_sets_session_cookie_and_logout_clears_it(api: httpx.Client,
                                                         server: ServerProcess) -> None:
    name, password, _, _ = _new_user(api)
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30,
                      headers=_own_address()) as browser:
        bad = browser.post("/auth/login", json={"username": name, "password": "wrong"})
        assert bad.status_code == 401 and "session" not in bad.headers.get("set-cookie", "")
        assert browser.post("/auth/login", json={"username": "nobody", "password": "x"}
                            ).status_code == 401
        good = browser.post("/auth/login", json={"username": name, "password": password})
        assert good.status_code == 200 and good.json()["name"] == name
        cookie = good.headers["set-cookie"].lower()
        assert "tunehouse_session=" in cookie and "httponly" in cookie
        assert "samesite=strict" in cookie and "path=/" in cookie
        assert browser.get("/auth/me").json()["name"] == name
        assert browser.get("/tasks").status_code == 200
        assert browser.get("/users").status_code == 403

        refused = browser.post("/auth/logout")  # a change by cookie needs the CSRF token
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.text
        assert browser.patch("/tasks/x", json={"comment": "c"}).status_code == 403
        logout = browser.post("/auth/logout",
                              headers={"X-CSRF-Token": browser.cookies["tunehouse_csrf"]})
        assert logout.status_code == 204
        assert "tunehouse_session=" in logout.headers["set-cookie"]
        assert browser.get("/auth/me").status_code == 401


def test_session_cookie_checks(api: httpx.Client, server: ServerProcess) -> None:
    name, password, _, _ = _new_user(api)
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30,
                      headers=_own_address()) as browser:
        token = browser.post("/auth/login", json={"username": name, "password": password}
                             ).cookies["tunehouse_session"]
        browser.cookies.clear()
        payload, _, signature = token.partition(".")
        forged = base64.urlsafe_b64encode(b'{"u":"admin","exp":9999999999,"n":"x"}').decode()
        for bad in (f"{forged.rstrip('=')}.{signature}", token[:-2] + "xx", "garbage"):
            response = browser.get("/auth/me", cookies={"tunehouse_session": bad})
            assert response.status_code == 401
        assert browser.get("/auth/me", cookies={"tunehouse_session": token}).status_code == 200
        api.patch(f"/users/{name}", json={"disabled": True})
        assert browser.get("/auth/me", cookies={"tunehouse_session": token}).status_code == 401
        assert browser.post("/auth/login", json={"username": name, "password": password}
                            ).status_code == 401


def test_no_sign_up(anon: httpx.Client) -> None:
    response = anon.post("/users", json={"name": "intruder", "password": "password1"})
    assert response.status_code == 401
