"""Signing in to a real server's web UI the way a browser does, for tests and benchmarks."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.helpers.server import ServerProcess


def sign_in(server: ServerProcess | str, user: str | None = None,
            password: str | None = None, **options: Any) -> httpx.Client:
    """A client signed in through the login form (default: as the server's admin; a
    server given by its URL needs ``user`` and ``password``); it carries the session
    cookies. ``options`` go to ``httpx.Client``."""
    options.setdefault("timeout", 60)
    if isinstance(server, str):
        assert user and password, "a server given by its URL needs the user and password"
        url = server
    else:
        url = server.url
        user, password = user or server.admin_user, password or server.admin_password
    client = httpx.Client(base_url=url, **options)
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    answer = client.post("/login", data={
        "username": user, "password": password,
        "login_token": token.group(1), "next": "/projects"})
    assert answer.status_code == 303, answer.text
    assert "tunehouse_session" in client.cookies
    return client


def csrf_header(client: httpx.Client) -> dict[str, str]:
    """The header a change made with the client's session cookie must carry."""
    return {"X-CSRF-Token": client.cookies["tunehouse_csrf"]}
