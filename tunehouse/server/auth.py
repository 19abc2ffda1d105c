"""Authentication of API requests.

Two kinds of credentials are accepted on every route except health, login and the
OpenAPI documents:

* ``Authorization: Basic base64(access_key:secret_key)``, an API key (SDK, agents, CLI);
* the ``tunehouse_session`` cookie set by ``POST /api/v1/auth/login`` (web UI): a random
  token naming a session kept on the server (:mod:`tunehouse.server.sessions`: ended by
  signing out, by disabling the user, or by its idle and absolute timeouts). A request
  authenticated by the cookie that changes something (any method but GET, HEAD and
  OPTIONS) must also carry the session's CSRF token in the ``X-CSRF-Token`` header: the
  token is an HMAC of the session token (:class:`SessionSigner`), handed to the page in
  the ``tunehouse_csrf`` cookie (not HttpOnly, so the page's scripts can read it; another
  site can neither read it nor forge it). The HMAC secret lives in
  ``<home>/session-secret`` (created with mode 0600 on first start), so every server
  process sharing the data directory accepts the others' CSRF tokens.

Failed sign-ins and failed API-key checks are throttled (:mod:`tunehouse.server.throttle`):
growing delays, then a lockout, answered with 429 and ``Retry-After``.

Keys and sessions are checked by the store's account areas
(:class:`~tunehouse.store.accounts.AccountStore`: store-only operations, no route reaches
them), passwords by :class:`~tunehouse.server.accounts.SignIn`. Writes always act as the
authenticated user (``store.with_user(...)``). An admin may act for another, enabled
user with the ``X-Tunehouse-User`` header (used by ``HttpStore.with_user``); an agent
account (``User.agent``) only within an attempt it runs of that user's task, named by the
``X-Tunehouse-Fence`` header (:func:`runs_attempt`); anyone else gets 403 for it. The audit entries of a request name the user it acted as, the authenticated user as
their ``actor`` when the two differ, and the client's address
(``store.with_context``, ``accounts.with_context``).
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

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from tunehouse.contract import (
    ACT_AS_HEADER,
    CSRF_COOKIE,
    CSRF_HEADER,
    FENCE_HEADER,
    SESSION_COOKIE,
)
from tunehouse.errors import AuthenticationFailed, InvalidInput, NotFound, PermissionDenied
from tunehouse.server.accounts import SignIn
from tunehouse.server.guarded import GuardedProjectRoles, acting_for, guarded_store
from tunehouse.server.permissions import Permissions
from tunehouse.server.sessions import TOKEN_MAX_LENGTH, Sessions
from tunehouse.server.throttle import Throttle, address_key, api_key_key, user_key
from tunehouse.settings import ensure_private_dir
from tunehouse.store.accounts import AccountStore
from tunehouse.store.base import Store
from tunehouse.store.records import TaskStatus, User

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


class SessionSigner:
    """The CSRF tokens of web sessions: ``HMAC-SHA256(secret, "csrf:" + session token)``.

    The sessions themselves are kept by the store (:class:`~tunehouse.server.sessions.Sessions`).
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

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
        """``token`` when it has the shape of a session token; else AuthenticationFailed.
        Whether the session is valid is :func:`authenticate`'s to check (it reads it)."""
        if not token or len(token) > TOKEN_MAX_LENGTH:
            raise AuthenticationFailed("invalid session; log in again")
        return token


def set_session_cookies(response: Response, signer: SessionSigner, token: str, secure: bool,
                        max_age: int) -> None:
    """Hand session ``token`` to the browser: the HttpOnly session cookie and its CSRF
    cookie (readable by the page's scripts), both SameSite=Strict, ``Secure`` when served
    over HTTPS (``secure``), kept ``max_age`` seconds (the session's absolute timeout)."""
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/",
                        httponly=True, samesite="strict", secure=secure)
    response.set_cookie(CSRF_COOKIE, signer.csrf_token(token), max_age=max_age,
                        path="/", httponly=False, samesite="strict", secure=secure)


def is_https(request: Request) -> bool:
    """Whether the client reached the server over HTTPS (behind a proxy on this host:
    its ``X-Forwarded-Proto``, which uvicorn trusts from 127.0.0.1)."""
    return request.url.scheme == "https"


async def sign_in(request: Request, username: str, password: str) -> tuple[User, str]:
    """Check a sign-in and start a web session: the user and the session's token.

    Throttled (:mod:`tunehouse.server.throttle`): TooManyAttempts (429) without checking
    the password while the user or the client's address is delayed or locked (a refusal
    the server remembers costs not even a database read); a wrong password is counted for
    both, a right one resets the user's count. Refusals too are made in a worker thread:
    answered on the event loop, a flood of them would hold the interpreter lock there and
    slow every other request far more (``benchmarks/brute_force.py``).
    """
    keys = (user_key(username), address_key(client_address(request)))
    return await run_in_threadpool(_sign_in, request, username, password, keys)


def _sign_in(request: Request, username: str, password: str,
             keys: tuple[str, str]) -> tuple[User, str]:
    """:func:`sign_in`'s blocking part (argon2, the database), in a worker thread."""
    address = client_address(request)
    accounts: AccountStore = request.app.state.accounts.with_context(client=address)
    throttle: Throttle = request.app.state.throttle
    with throttle.guard(keys) as counted:
        try:
            user = SignIn(accounts, request.app.state.ldap).verify_password(username, password)
        except AuthenticationFailed:
            throttle.failed(keys, address)
            raise
    if keys[0] in counted:
        throttle.reset(keys[0])
    sessions: Sessions = request.app.state.sessions
    return user, sessions.create(user.name, address)


def attach_session(request: Request, response: Response, token: str) -> None:
    """Set the cookies of session ``token`` (from :func:`sign_in`) on ``response``."""
    sessions: Sessions = request.app.state.sessions
    set_session_cookies(response, request.app.state.session_signer, token,
                        secure=is_https(request), max_age=sessions.max_s)


def end_session(request: Request) -> bool:
    """Delete the session of the request's cookie on the server (signing out); whether
    there was one. Blocking (the database): call it in a worker thread."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    sessions: Sessions = request.app.state.sessions
    return sessions.end(token)


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
    """The authenticated user of a request, and the store and accounts acting for it.

    Attributes:
        user: The authenticated user.
        store: The store acting for the acting user, every call checked.
        accounts: The account areas acting for the acting user; the routes check who may
            call what (:mod:`tunehouse.server.api.accounts`), except ``roles``.
        roles: The accounts' ``roles`` area checked against the acting user's roles.
    """

    user: User
    store: Store
    accounts: AccountStore
    roles: GuardedProjectRoles


def authenticate(request: Request) -> User:
    """The user behind the request's API key or session cookie; else AuthenticationFailed."""
    accounts: AccountStore = request.app.state.accounts
    header = request.headers.get("authorization")
    if header:
        access_key, secret_key = parse_basic(header)
        throttle: Throttle = request.app.state.throttle
        address = client_address(request)

        def wrong_secret() -> None:  # counted, or 429 while delayed or locked
            throttle.check_failed((api_key_key(access_key), address_key(address)), address)

        return accounts.keys.authenticate_key(access_key, secret_key,
                                              on_wrong_secret=wrong_secret)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions: Sessions = request.app.state.sessions
        user = sessions.check(token)  # one read; a disabled user's session is refused
        if request.method not in SAFE_METHODS:
            signer: SessionSigner = request.app.state.session_signer
            signer.check_csrf(token, request.headers.get(CSRF_HEADER))
        return user
    raise AuthenticationFailed(
        "authentication required: send an API key (Authorization: Basic) or log in")


def principal(request: Request) -> Principal:
    """FastAPI dependency: authenticate and bind the store to the acting user."""
    user = authenticate(request)
    acting = user.name
    act_as = request.headers.get(ACT_AS_HEADER)
    accounts: AccountStore = request.app.state.accounts
    fence_header = request.headers.get(FENCE_HEADER)
    fence = parse_fence(fence_header) if fence_header else None
    if act_as and act_as != user.name:
        if not (user.admin or user.agent):
            raise PermissionDenied(
                f"only admins and agent accounts may act for another user ({ACT_AS_HEADER}: "
                f"{act_as!r}); {user.name!r} is neither")
        if not user.admin and (fence is None or not runs_attempt(
                request.app.state.store, user.name, act_as, *fence)):
            raise PermissionDenied(
                f"an agent account acts for another user ({act_as!r}) only in an attempt it "
                f"runs of that user's task: {FENCE_HEADER} must name one")
        try:
            target = accounts.users.get_user(act_as)
        except NotFound:
            raise InvalidInput(f"{ACT_AS_HEADER} names an unknown user {act_as!r}") from None
        if target.disabled:
            raise PermissionDenied(f"cannot act as the disabled user {act_as!r}")
        acting = act_as
    # audited as made by ``acting``; by ``actor`` for it (both names) when they differ
    actor = user.name if acting != user.name else None
    client = client_address(request)
    accounts = accounts.with_context(actor, client)
    store = request.app.state.store.with_user(acting).with_context(actor, client)
    if fence is not None:
        store = store.with_fence(*fence)
    # every call is checked against the acting user's project roles (tunehouse.server.guarded)
    checked = user if acting == user.name else acting_for(user, accounts.users.get_user(acting))
    permissions: Permissions = request.app.state.permissions
    accounts = accounts.with_user(acting)
    return Principal(user=user, store=guarded_store(store, checked, permissions),
                     accounts=accounts,
                     roles=GuardedProjectRoles(checked, permissions, accounts.roles))


def runs_attempt(store: Store, runner: str, owner: str, task_id: str, attempt: int) -> bool:
    """Whether ``runner`` claimed, and still runs, attempt ``attempt`` of ``owner``'s task
    ``task_id`` (what lets an agent account act for ``owner``)."""
    try:
        task = store.tasks.get_task(task_id)
    except NotFound:
        return False
    return (task.status is TaskStatus.in_progress and task.attempt == attempt
            and task.runner == runner and task.user == owner)


def client_address(request: Request) -> str | None:
    """The address of the request's client, as audit entries record it (None: unknown)."""
    return request.client.host if request.client else None


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
