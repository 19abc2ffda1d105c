"""Sign-in and the account areas: login/logout and who-am-I (``server.*``), and the
``users``, ``keys``, ``throttle`` (lockouts), ``audit`` and ``preferences`` areas of
:class:`~tunehouse.store.accounts.Accounts` (each user's own preferences,
``/preferences/{key}``: the web UI's dashboards).

Who may call what is checked here, the store doing what it is asked: managing users is
for admins; a user may manage its own keys; an agent account may also create keys of the
owner of a task it runs, bound to that attempt (they stop working when it is over), and
revoke the keys it created. There is no sign-up: accounts are created by an admin (here or with
``tunehouse users add``). Reading the audit log and the lockouts is for admins. No route
writes or deletes audit entries, checks a password or a session but through sign-in: those
operations of the store have no route.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from tunehouse.errors import InvalidInput, PermissionDenied
from tunehouse.server.api._deps import Acting, AdminOnly, operation
from tunehouse.server.auth import (
    attach_session,
    clear_session_cookies,
    end_session,
    require_self_or_admin,
    runs_attempt,
    sign_in,
)
from tunehouse.server.throttle import Throttle
from tunehouse.store.records import (
    NAME_MAX,
    ApiKey,
    AuditEvent,
    Input,
    Lockout,
    NewApiKey,
    Record,
    User,
)

router = APIRouter(tags=["server"])


class Login(Input):
    username: str = Field(min_length=1, max_length=NAME_MAX)
    password: str = Field(min_length=1, max_length=1024)


class UserCreate(Input):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    password: str = Field(min_length=1, max_length=1024)
    admin: bool = False
    agent: bool = False


class UserChange(Input):
    disabled: bool


class KeyCreate(Input):
    """A new key of ``user`` (default: yourself); with ``task_id`` and ``attempt``, a key
    that works only while that attempt of the user's task runs."""

    user: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    description: str = Field(default="", max_length=1024)
    task_id: str | None = Field(default=None, min_length=1, max_length=64)
    attempt: int | None = Field(default=None, ge=1, strict=True)


class Preference(Record):
    """A preference of the acting user; ``value`` is null when it has none."""

    key: str
    value: Any = None


class PreferenceWrite(Input):
    """The new value of a preference (any JSON; null removes the preference)."""

    value: Any


PreferenceKey = Annotated[str, Path(min_length=1, max_length=255)]


@operation(router, "users.create_user", response_model=User, status_code=201)
def create_user(body: UserCreate, who: AdminOnly) -> User:
    return who.accounts.users.create_user(body.name, body.password, admin=body.admin,
                                          agent=body.agent)


@operation(router, "users.list_users", response_model=list[User])
def list_users(who: AdminOnly) -> list[User]:
    return who.accounts.users.list_users()


@operation(router, "users.get_user", response_model=User)
def get_user(name: str, who: Acting) -> User:
    require_self_or_admin(who, name)
    return who.accounts.users.get_user(name)


@operation(router, "users.set_user_disabled", response_model=User)
def set_user_disabled(name: str, body: UserChange, who: AdminOnly) -> User:
    """Disable or re-enable a user (a disabled user's keys and sessions stop working)."""
    return who.accounts.users.set_user_disabled(name, body.disabled)


@operation(router, "keys.create_api_key", response_model=NewApiKey, status_code=201)
def create_api_key(body: KeyCreate, who: Acting, request: Request) -> NewApiKey:
    """A new key for yourself, or (admins) for another user; an agent account makes keys
    of another user only for an attempt it runs of that user's task (``task_id`` and
    ``attempt``: the key stops working when the attempt is over). The secret is shown
    once. Audited as ``key.create`` naming the key's user."""
    owner = body.user or who.user.name
    if (body.task_id is None) != (body.attempt is None):
        raise InvalidInput("task_id and attempt go together: a key for one attempt of a task "
                           "names both")
    for_attempt = (body.task_id, body.attempt) if body.task_id and body.attempt else None
    if who.user.agent and not who.user.admin and owner != who.user.name:
        if for_attempt is None or not runs_attempt(request.app.state.store, who.user.name,
                                                  owner, *for_attempt):
            raise PermissionDenied(
                f"an agent account makes keys of another user ({owner!r}) only for an "
                "attempt it runs of that user's task: give task_id and attempt of one")
    else:
        require_self_or_admin(who, owner)
    return who.accounts.keys.create_api_key(owner, body.description, for_attempt)


@operation(router, "keys.list_api_keys", response_model=list[ApiKey])
def list_api_keys(who: Acting, user: str | None = None) -> list[ApiKey]:
    """Your keys; admins see everyone's (or one user's with ``user``)."""
    if not who.user.admin:
        require_self_or_admin(who, user or who.user.name)
        user = who.user.name
    return who.accounts.keys.list_api_keys(user)


@operation(router, "keys.revoke_api_key", response_model=ApiKey)
def revoke_api_key(access_key: str, who: Acting) -> ApiKey:
    """Revoke a key: your own; admins any; an agent account also those it created."""
    if not who.user.admin:
        keys = who.accounts.keys
        own = {key.access_key for key in keys.list_api_keys(who.user.name)}
        made = who.user.agent and keys.key_created_by(access_key) == who.user.name
        if access_key not in own and not made:
            raise PermissionDenied("only admins may revoke other users' keys (an agent "
                                   "account: the keys it created)")
    return who.accounts.keys.revoke_api_key(access_key)


@operation(router, "server.login", response_model=User)
async def login(body: Login, request: Request, response: Response) -> User:
    """Check a username and password, start a session kept on the server and set its
    HttpOnly, SameSite=Strict cookie. Failed sign-ins are throttled per user and per client
    address: 429 with ``Retry-After`` while delayed or locked, even with the right password."""
    user, token = await sign_in(request, body.username, body.password)
    attach_session(request, response, token)
    return user


@operation(router, "server.logout", status_code=204, response_class=Response)
def logout(request: Request, who: Acting) -> Response:
    """End the session on the server (its cookie is refused from now on, even replayed)
    and clear the session cookies."""
    end_session(request)
    response = Response(status_code=204)
    clear_session_cookies(response)
    return response


@operation(router, "throttle.list_lockouts", response_model=list[Lockout])
def list_lockouts(who: AdminOnly, every: bool = False,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[Lockout]:
    """Keys locked by failed sign-ins or API-key checks now (``user:<name>``,
    ``addr:<address>``, ``key:<access key>``), the latest first (admins only);
    ``every``: every key with counted failures, locked or not."""
    return who.accounts.throttle.list_lockouts(every=every, limit=limit)


@operation(router, "throttle.clear_lockout", response_model=Lockout)
def clear_lockout(key: Annotated[str, Path(min_length=1, max_length=300)], request: Request,
                  who: AdminOnly) -> Lockout:
    """Unlock a key and forget its failures (admins only; audited ``auth.unlock``);
    answers what was counted. 404 when nothing is counted for the key. This server
    forgets the refusal it remembers at once."""
    cleared = who.accounts.throttle.clear_lockout(key)
    throttle: Throttle = request.app.state.throttle
    throttle.forget_refusal(key)
    return cleared


@operation(router, "server.whoami", response_model=User)
def whoami(who: Acting) -> User:
    """The authenticated user."""
    return who.user


AuditText = Annotated[str | None, Query(min_length=1, max_length=NAME_MAX)]


@operation(router, "audit.list_audit_events", response_model=list[AuditEvent])
def list_audit_events(who: AdminOnly, target_type: AuditText = None,
                      target_id: AuditText = None, user: AuditText = None,
                      actor: AuditText = None, action: AuditText = None,
                      since: datetime | None = None, until: datetime | None = None,
                      after_id: Annotated[int | None, Query(ge=0)] = None,
                      oldest_first: bool = False,
                      limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[AuditEvent]:
    """The audit log (admins only), newest first (``oldest_first``: oldest first).

    Filters: ``user`` (made as), ``actor`` (made by, for ``user``), ``action`` (exact, or
    a prefix ending in ``*``), ``target_type``, ``target_id``, ``since`` (inclusive),
    ``until`` (exclusive; ISO 8601 times, UTC when without zone). Pages: pass the ``id``
    of the last entry of a page as ``after_id`` to get the next one."""
    return who.accounts.audit.list_audit_events(
        target_type=target_type, target_id=target_id, limit=limit, user=user, actor=actor,
        action=action, since=since, until=until, after_id=after_id, oldest_first=oldest_first)


@operation(router, "preferences.get_preference", response_model=Preference)
def get_preference(key: PreferenceKey, who: Acting) -> Preference:
    """Your value of preference ``key`` (``null`` when you have none)."""
    return Preference(key=key, value=who.accounts.preferences.get_preference(key))


@operation(router, "preferences.set_preference", response_model=Preference)
def set_preference(key: PreferenceKey, body: PreferenceWrite, who: Acting) -> Preference:
    """Keep a JSON value of at most 64 KiB under ``key``, for you alone; ``null`` removes
    it. ``dashboard:<project id>`` holds the web UI's charts pinned on that project's
    dashboard: at most 50 ``{kind, spec, title}``, ``kind`` ``metric_over_time`` or
    ``running_latest``, ``spec`` a metric column (``metric:<title>/<series>[:last|:min|:max]``).
    The answer is the value as kept."""
    return Preference(key=key, value=who.accounts.preferences.set_preference(key, body.value))
