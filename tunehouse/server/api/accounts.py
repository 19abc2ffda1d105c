"""Operations of the server alone: login/logout and who-am-I, users and API keys,
reading the audit log, and each user's own preferences (``/preferences/{key}``: the web
UI's dashboards). Managing users is for admins; a user may manage its own keys.
There is no sign-up: accounts are created by an admin (here or with ``tunehouse users
add`` on the server machine). No route writes audit entries: the server does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from tunehouse.errors import PermissionDenied
from tunehouse.server.accounts import Accounts
from tunehouse.server.api._deps import Acting, AdminOnly, operation
from tunehouse.server.auth import (
    SessionSigner,
    clear_session_cookies,
    require_self_or_admin,
    set_session_cookies,
)
from tunehouse.store.records import (
    NAME_MAX,
    ApiKey,
    AuditEvent,
    Input,
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
    user: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    description: str = Field(default="", max_length=1024)


class Preference(Record):
    """A preference of the acting user; ``value`` is null when it has none."""

    key: str
    value: Any = None


class PreferenceWrite(Input):
    """The new value of a preference (any JSON; null removes the preference)."""

    value: Any


PreferenceKey = Annotated[str, Path(min_length=1, max_length=255)]


@operation(router, "server.create_user", response_model=User, status_code=201)
def create_user(body: UserCreate, who: AdminOnly) -> User:
    return who.accounts.create_user(body.name, body.password, admin=body.admin,
                                    agent=body.agent)


@operation(router, "server.list_users", response_model=list[User])
def list_users(who: AdminOnly) -> list[User]:
    return who.accounts.list_users()


@operation(router, "server.get_user", response_model=User)
def get_user(name: str, who: Acting) -> User:
    require_self_or_admin(who, name)
    return who.accounts.get_user(name)


@operation(router, "server.set_user_disabled", response_model=User)
def set_user_disabled(name: str, body: UserChange, who: AdminOnly) -> User:
    """Disable or re-enable a user (a disabled user's keys and sessions stop working)."""
    return who.accounts.set_user_disabled(name, body.disabled)


@operation(router, "server.create_api_key", response_model=NewApiKey, status_code=201)
def create_api_key(body: KeyCreate, who: Acting) -> NewApiKey:
    """A new key for yourself, or (admins) for another user. The secret is shown once."""
    owner = body.user or who.user.name
    require_self_or_admin(who, owner)
    return who.accounts.create_api_key(owner, body.description)


@operation(router, "server.list_api_keys", response_model=list[ApiKey])
def list_api_keys(who: Acting, user: str | None = None) -> list[ApiKey]:
    """Your keys; admins see everyone's (or one user's with ``user``)."""
    if not who.user.admin:
        require_self_or_admin(who, user or who.user.name)
        user = who.user.name
    return who.accounts.list_api_keys(user)


@operation(router, "server.revoke_api_key", response_model=ApiKey)
def revoke_api_key(access_key: str, who: Acting) -> ApiKey:
    if not who.user.admin:
        own = {key.access_key for key in who.accounts.list_api_keys(who.user.name)}
        if access_key not in own:
            raise PermissionDenied("only admins may revoke other users' keys")
    return who.accounts.revoke_api_key(access_key)


@operation(router, "server.login", response_model=User)
async def login(body: Login, request: Request, response: Response) -> User:
    """Check a username and password and set the HttpOnly, SameSite=Strict session cookie."""
    accounts: Accounts = request.app.state.accounts
    user = await run_in_threadpool(accounts.verify_password, body.username, body.password)
    signer: SessionSigner = request.app.state.session_signer
    set_session_cookies(response, signer, user.name, secure=request.url.scheme == "https")
    return user


@operation(router, "server.logout", status_code=204, response_class=Response)
def logout(who: Acting) -> Response:
    """Clear the session cookies."""
    response = Response(status_code=204)
    clear_session_cookies(response)
    return response


@operation(router, "server.whoami", response_model=User)
def whoami(who: Acting) -> User:
    """The authenticated user."""
    return who.user


@operation(router, "server.list_audit_events", response_model=list[AuditEvent])
def list_audit_events(who: Acting, target_type: str | None = None,
                      target_id: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[AuditEvent]:
    """Newest first."""
    return who.accounts.list_audit_events(target_type=target_type, target_id=target_id,
                                          limit=limit)


@operation(router, "server.get_preference", response_model=Preference)
def get_preference(key: PreferenceKey, who: Acting) -> Preference:
    """Your value of preference ``key`` (``null`` when you have none)."""
    return Preference(key=key, value=who.accounts.get_preference(key))


@operation(router, "server.set_preference", response_model=Preference)
def set_preference(key: PreferenceKey, body: PreferenceWrite, who: Acting) -> Preference:
    """Keep a JSON value of at most 64 KiB under ``key``, for you alone; ``null`` removes
    it. ``dashboard:<project id>`` holds the web UI's charts pinned on that project's
    dashboard: at most 50 ``{kind, spec, title}``, ``kind`` ``metric_over_time`` or
    ``running_latest``, ``spec`` a metric column (``metric:<title>/<series>[:last|:min|:max]``).
    The answer is the value as kept."""
    return Preference(key=key, value=who.accounts.set_preference(key, body.value))
