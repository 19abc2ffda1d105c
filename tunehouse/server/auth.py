"""Authentication of API requests.

Two kinds of credentials are accepted on every route except health, login and the
OpenAPI documents:

* ``Authorization: Basic base64(access_key:secret_key)``, an API key (SDK, agents, CLI);
* the ``tunehouse_session`` cookie set by ``POST /api/v1/auth/login`` (web UI): an
  HMAC-SHA256-signed token naming the user and its expiry. A request authenticated by the
  cookie that changes something (any method but GET, HEAD and OPTIONS) must also carry
  the session's CSRF token in the ``X-CSRF-Token`` header: the token is an HMAC of the
  session token, handed to the page in the ``tunehouse_csrf`` cookie (not HttpOnly, so
  the page's scripts can read it; another site can neither read it nor forge it). The
  signing secret lives in
  ``<home>/session-secret`` (created with mode 0600 on first start), so every server
  process sharing the data directory accepts the others' cookies. Disabling a user
  invalidates its sessions at once (the user is looked up on every request).

Users and keys are checked by :class:`~tunehouse.server.accounts.Accounts`, which only
the server has. Writes always act as the authenticated user (``store.with_user(...)``). An admin
may act for another user name with the ``X-Tunehouse-User`` header (used by
``HttpStore.with_user``); anyone else gets 403 for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from fastapi import Request, Response

from tunehouse.contract import (
    ACT_AS_HEADER,
    CSRF_COOKIE,
    CSRF_HEADER,
    FENCE_HEADER,
    SESSION_COOKIE,
)
from tunehouse.errors import AuthenticationFailed, InvalidInput, NotFound, PermissionDenied
from tunehouse.server.accounts import Accounts
from tunehouse.settings import ensure_private_dir
from tunehouse.store.base import Store
from tunehouse.store.records import User

SESSION_TTL_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SECRET_FILE = "session-secret"


def load_session_secret(home: Path) -> bytes:
    """The cookie-signing secret of this data directory, created on first use (mode 0600).

    Creation is exclusive, so processes starting together end up with the same secret.
    """
    ensure_private_dir(home)
    path = home / SESSION_SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            text = path.read_text().strip()
            if text:
                return bytes.fromhex(text)
            time.sleep(0.02)  # another process is writing it right now
        raise RuntimeError(f"{path} is empty; delete it and restart the server") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks signed session tokens ``payload.signature``."""

    def __init__(self, secret: bytes, ttl_s: int = SESSION_TTL_S) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, user: str) -> str:
        body = {"u": user, "exp": int(time.time()) + self.ttl_s, "n": secrets.token_hex(8)}
        payload = _b64(orjson.dumps(body))
        return f"{payload}.{self._sign(payload)}"

    def csrf_token(self, token: str) -> str:
        """The CSRF token that goes with session token ``token``."""
        return self._sign("csrf:" + token)

    def check_csrf(self, token: str, presented: str | None) -> None:
        """PermissionDenied unless ``presented`` is the CSRF token of session ``token``."""
        if not presented or not hmac.compare_digest(presented, self.csrf_token(token)):
            raise PermissionDenied(
                f"missing or wrong {CSRF_HEADER} header: a change made with a session "
                "cookie must repeat the session's CSRF token (reload the page)")

    def verify(self, token: str) -> str:
        """The user name in a valid, unexpired token; else AuthenticationFailed."""
        payload, _, signature = token.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(payload)):
            raise AuthenticationFailed("invalid session; log in again")
        try:
            body = orjson.loads(_unb64(payload))
            user, expires = str(body["u"]), int(body["exp"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AuthenticationFailed("invalid session; log in again") from exc
        if expires < time.time():
            raise AuthenticationFailed("session expired; log in again")
        return user


def set_session_cookies(response: Response, signer: SessionSigner, user: str,
                        secure: bool) -> None:
    """Start a web session of ``user``: the HttpOnly session cookie and its CSRF cookie
    (both SameSite=Strict; Secure when served over HTTPS)."""
    token = signer.issue(user)
    response.set_cookie(SESSION_COOKIE, token, max_age=signer.ttl_s, path="/",
                        httponly=True, samesite="strict", secure=secure)
    response.set_cookie(CSRF_COOKIE, signer.csrf_token(token), max_age=signer.ttl_s,
                        path="/", httponly=False, samesite="strict", secure=secure)


def clear_session_cookies(response: Response) -> None:
    """End the web session in the browser (both cookies)."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", httponly=False, samesite="strict")


def parse_basic(header: str) -> tuple[str, str]:
    """``(access_key, secret_key)`` from an ``Authorization: Basic ...`` header value."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise AuthenticationFailed(
            "unsupported Authorization header: use 'Basic base64(access_key:secret_key)'")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationFailed("malformed Authorization header: invalid base64") from exc
    access_key, sep, secret_key = decoded.partition(":")
    if not sep or not access_key or not secret_key:
        raise AuthenticationFailed("malformed Authorization header: expected access_key:secret_key")
    return access_key, secret_key


@dataclass(frozen=True)
class Principal:
    """The authenticated user of a request, and the store and accounts acting for it."""

    user: User
    store: Store
    accounts: Accounts


def authenticate(request: Request) -> User:
    """The user behind the request's API key or session cookie; else AuthenticationFailed."""
    accounts: Accounts = request.app.state.accounts
    header = request.headers.get("authorization")
    if header:
        return accounts.authenticate_key(*parse_basic(header))
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        signer: SessionSigner = request.app.state.session_signer
        name = signer.verify(token)
        if request.method not in SAFE_METHODS:
            signer.check_csrf(token, request.headers.get(CSRF_HEADER))
        try:
            user = accounts.get_user(name)
        except NotFound as exc:  # a deleted user's cookie is no longer valid
            raise AuthenticationFailed("invalid session; log in again") from exc
        if user.disabled:
            raise AuthenticationFailed("user is disabled")
        return user
    raise AuthenticationFailed(
        "authentication required: send an API key (Authorization: Basic) or log in")


def principal(request: Request) -> Principal:
    """FastAPI dependency: authenticate and bind the store to the acting user."""
    user = authenticate(request)
    acting = user.name
    act_as = request.headers.get(ACT_AS_HEADER)
    accounts: Accounts = request.app.state.accounts
    if act_as and act_as != user.name:
        if not user.admin:
            raise PermissionDenied(f"only admins may act as another user ({act_as!r})")
        try:
            target = accounts.get_user(act_as)
        except NotFound:
            raise InvalidInput(f"{ACT_AS_HEADER} names an unknown user {act_as!r}") from None
        if target.disabled:
            raise PermissionDenied(f"cannot act as the disabled user {act_as!r}")
        acting = act_as
    store = request.app.state.store.with_user(acting)
    fence = request.headers.get(FENCE_HEADER)
    if fence:
        store = store.with_fence(*parse_fence(fence))
    return Principal(user=user, store=store, accounts=accounts.with_user(acting))


def parse_fence(value: str) -> tuple[str, int]:
    """``<task id>:<attempt>`` of the fence header; InvalidInput naming the header else."""
    task_id, _, attempt = value.partition(":")
    if not task_id or not attempt.isdigit():
        raise InvalidInput(f"{FENCE_HEADER} must be '<task id>:<attempt>', got {value!r}")
    return task_id, int(attempt)


def admin_principal(request: Request) -> Principal:
    """FastAPI dependency: like :func:`principal`, but 403 unless the user is an admin."""
    found = principal(request)
    if not found.user.admin:
        raise PermissionDenied("this operation needs an admin user")
    return found


def require_self_or_admin(found: Principal, name: str) -> None:
    """403 unless the principal is ``name`` or an admin."""
    if not found.user.admin and found.user.name != name:
        raise PermissionDenied(f"only admins may manage user {name!r}")
