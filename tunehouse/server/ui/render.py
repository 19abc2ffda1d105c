"""Rendering the web UI's pages: the Jinja2 environment, its filters, and the page
context every template gets (the user, the CSRF token, the navigation).

Templates live in ``tunehouse/server/ui/templates`` and autoescape HTML; every page
extends ``base.html``. Scripts are plain files under ``/static/ui`` (one per feature).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from tunehouse.contract import API_PREFIX, CSRF_COOKIE
from tunehouse.version import __version__

TEMPLATES = Path(__file__).parent / "templates"

#: Content-Security-Policy of every page: nothing but this server's own scripts, styles
#: and images (plotly sets inline styles, hence 'unsafe-inline' for styles only).
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The templates' environment (built once)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["ago"] = ago
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["num"] = number
    env.filters["size"] = size
    env.globals["api"] = API_PREFIX
    env.globals["version"] = __version__
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` rendered with ``context`` plus the request, the signed-in
    user (``user``, when the view passed one) and the session's CSRF token."""
    context.setdefault("user", None)
    context.setdefault("title", "tunehouse")
    context["request"] = request
    context["csrf"] = request.cookies.get(CSRF_COOKIE, "")
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=page_headers())


def page_headers() -> dict[str, str]:
    """Security headers of every page (``X-Frame-Options`` for browsers that do not know
    the policy's ``frame-ancestors``)."""
    return {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store"}


# ---------------------------------------------------------------- filters
def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ago(moment: datetime | None) -> str:
    """``3 min ago``-style age of ``moment`` ("" when None)."""
    if moment is None:
        return ""
    seconds = (datetime.now(UTC) - _aware(moment)).total_seconds()
    if seconds < 0:
        return "just now"
    return duration(seconds) + " ago"


def when(moment: datetime | None) -> str:
    """``2026-11-27 14:03:05`` in UTC ("" when None)."""
    return _aware(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def duration(seconds: float | None) -> str:
    """A short human duration: ``42 s``, ``3 min``, ``2.5 h``, ``4 d``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def number(value: Any) -> str:
    """Numbers compact (``0.001234``, ``1.235e+06``), also when written as text (a
    parameter's ``0.22920641132888908``), anything else as text."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return value
        return value if len(value) <= 8 or "." not in value else number(parsed)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}"
    return str(value)


def size(value: int | None) -> str:
    """Bytes as ``1.2 MiB``."""
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"
