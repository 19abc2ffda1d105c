"""Users and API keys. Managing users is for admins; a user may manage its own keys.

There is no sign-up: accounts are created by an admin (here or with ``tunehouse users
add`` on the server machine).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from tunehouse.errors import PermissionDenied
from tunehouse.server.api._deps import Acting, AdminOnly
from tunehouse.server.auth import require_self_or_admin
from tunehouse.store.records import NAME_MAX, ApiKey, Input, NewApiKey, User

router = APIRouter(tags=["users"])


class UserCreate(Input):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    password: str = Field(min_length=1, max_length=1024)
    admin: bool = False


class UserChange(Input):
    disabled: bool


class KeyCreate(Input):
    user: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    description: str = Field(default="", max_length=1024)


@router.post("/users", response_model=User, status_code=201)
def create_user(body: UserCreate, who: AdminOnly) -> User:
    return who.store.create_user(body.name, body.password, admin=body.admin)


@router.get("/users", response_model=list[User])
def list_users(who: AdminOnly) -> list[User]:
    return who.store.list_users()


@router.get("/users/{name}", response_model=User)
def get_user(name: str, who: Acting) -> User:
    require_self_or_admin(who, name)
    return who.store.get_user(name)


@router.patch("/users/{name}", response_model=User)
def change_user(name: str, body: UserChange, who: AdminOnly) -> User:
    """Disable or re-enable a user (a disabled user's keys and sessions stop working)."""
    return who.store.set_user_disabled(name, body.disabled)


@router.post("/keys", response_model=NewApiKey, status_code=201)
def create_api_key(body: KeyCreate, who: Acting) -> NewApiKey:
    """A new key for yourself, or (admins) for another user. The secret is shown once."""
    owner = body.user or who.user.name
    require_self_or_admin(who, owner)
    return who.store.create_api_key(owner, body.description)


@router.get("/keys", response_model=list[ApiKey])
def list_api_keys(who: Acting, user: str | None = None) -> list[ApiKey]:
    """Your keys; admins see everyone's (or one user's with ``user``)."""
    if not who.user.admin:
        require_self_or_admin(who, user or who.user.name)
        user = who.user.name
    return who.store.list_api_keys(user)


@router.post("/keys/{access_key}/revoke", response_model=ApiKey)
def revoke_api_key(access_key: str, who: Acting) -> ApiKey:
    if not who.user.admin:
        own = {key.access_key for key in who.store.list_api_keys(who.user.name)}
        if access_key not in own:
            raise PermissionDenied("only admins may revoke other users' keys")
    return who.store.revoke_api_key(access_key)
