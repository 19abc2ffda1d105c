"""Password login for the web UI (session cookie), logout, and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from tunehouse.server.api._deps import Acting
from tunehouse.server.auth import SESSION_COOKIE, SessionSigner, require_self_or_admin
from tunehouse.store.base import Store
from tunehouse.store.records import NAME_MAX, Input, User

router = APIRouter(tags=["auth"])


class Login(Input):
    username: str = Field(min_length=1, max_length=NAME_MAX)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/auth/login", response_model=User)
async def login(body: Login, request: Request, response: Response) -> User:
    """Check a username and password and set the HttpOnly, SameSite=Strict session cookie."""
    store: Store = request.app.state.store
    user = await run_in_threadpool(store.verify_password, body.username, body.password)
    signer: SessionSigner = request.app.state.session_signer
    response.set_cookie(SESSION_COOKIE, signer.issue(user.name), max_age=signer.ttl_s,
                        path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return user


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(who: Acting) -> Response:
    """Clear the session cookie."""
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/auth/me", response_model=User)
def me(who: Acting) -> User:
    """The authenticated user."""
    return who.user


@router.post("/auth/verify", response_model=User)
def verify_password(body: Login, who: Acting) -> User:
    """Check another user's password (admins) or your own."""
    require_self_or_admin(who, body.username)
    return who.store.verify_password(body.username, body.password)
