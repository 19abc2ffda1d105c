"""What every view of the web UI shares: the signed-in principal of a page, the error
page, and redirects.

A page reads through the same :func:`~tunehouse.server.auth.principal` as the JSON API,
so whatever the API refuses a user, its pages refuse too. Without a valid session a
page answers with a redirect to ``/login?next=<page>``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

import orjson
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from tunehouse.contract import CSRF_HEADER
from tunehouse.server.auth import Principal, principal
from tunehouse.server.ui.render import render

#: The signed-in principal of a page (a 401 becomes a redirect to the login page).
Page = Annotated[Principal, Depends(principal)]


async def form_principal(request: Request) -> tuple[Principal, FormData]:
    """The principal of a page's form post, and its form: the form's hidden ``csrf`` field
    stands for the ``X-CSRF-Token`` header a script would send, so the post is checked
    exactly as an API call (403 without the session's token; without a session, the
    sign-in page)."""
    form = await request.form()
    header = CSRF_HEADER.lower().encode()
    headers = [(k, v) for k, v in request.scope["headers"] if k != header]
    headers.append((header, str(form.get("csrf", "")).encode()))
    checked = Request({**request.scope, "headers": headers}, request.receive)
    return await run_in_threadpool(principal, checked), form


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this server, else ``/`` (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def redirect(target: str) -> RedirectResponse:
    """303 See Other to ``target`` (after a form post, or to the login page)."""
    return RedirectResponse(target, status_code=303)


def html_page(request: Request, response: Response) -> Response:
    """An API error answer turned into a page: a 401 redirects to the login page, any
    other error shows its status and message (never a traceback)."""
    if response.status_code == 401:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/login?next={quote(path, safe='')}")
    try:
        error = orjson.loads(bytes(response.body))["error"]
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        code, message = "error", "the request failed"
    return render(request, "error.html", status=response.status_code,
                  title=f"{response.status_code} · tunehouse", status_code=response.status_code,
                  code=code, message=message)
