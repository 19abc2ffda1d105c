"""Signing in and out of the web UI.

The login form is protected against login CSRF by a double-submit token: ``GET /login``
sets a random ``tunehouse_login`` cookie and puts the same value in the form; the post
must bring both. Signing in is the JSON API's (:func:`~tunehouse.server.auth.sign_in`:
throttled, a session kept on the server, the same cookies); a refusal shows the form again
with its message (429 while throttled). Signing out needs the session's CSRF token in the
form and ends the session on the server.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tunehouse.contract import SESSION_COOKIE
from tunehouse.errors import AuthenticationFailed, TooManyAttempts
from tunehouse.server.auth import (
    SessionSigner,
    attach_session,
    clear_session_cookies,
    end_session,
    sign_in,
)
from tunehouse.server.ui.pages import redirect, safe_next
from tunehouse.server.ui.render import render

router = APIRouter()
LOGIN_COOKIE = "tunehouse_login"


def _login_form(request: Request, next_url: str, error: str = "", status: int = 200,
                username: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, title="Sign in · tunehouse",
                      next_url=next_url, error=error, login_token=token, username=username)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """The sign-in form (there is no sign-up: an admin creates accounts)."""
    return _login_form(request, safe_next(next))


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """Check the form's username and password; on success start the session and go to
    ``next``; else show the form again with the reason."""
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", "/")))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, str(form.get("login_token", ""))):
        return _login_form(request, next_url, "the sign-in form expired; please try again",
                           status=403, username=username)
    if not username or not password:
        return _login_form(request, next_url, "enter your username and password",
                           status=422, username=username)
    try:
        _, token = await sign_in(request, username, password)
    except AuthenticationFailed as exc:  # 401, or 429 (TooManyAttempts) while throttled
        page = _login_form(request, next_url, exc.message, status=exc.status,
                           username=username)
        if isinstance(exc, TooManyAttempts) and exc.retry_after is not None:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = redirect(next_url)
    attach_session(request, response, token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout_submit(request: Request) -> Response:
    """End the session (the form carries the session's CSRF token)."""
    form = await request.form()
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        signer: SessionSigner = request.app.state.session_signer
        signer.check_csrf(token, str(form.get("csrf", "")))
        await run_in_threadpool(end_session, request)  # the cookie is refused from now on
    response = redirect("/login")
    clear_session_cookies(response)
    return response
