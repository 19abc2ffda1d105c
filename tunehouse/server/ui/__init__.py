"""The web UI, served by ``tunehouse server`` itself: server-rendered pages (Jinja2,
one view module per page under :mod:`tunehouse.server.ui.views`), small plain scripts
(one per feature) and plotly.js for charts, every asset served from this server.

Pages read the JSON API's store through the same authentication and permission checks;
their scripts call the JSON API with the session cookie and its CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter

from tunehouse.server.ui import assets
from tunehouse.server.ui.pages import html_page
from tunehouse.server.ui.views import (
    compare,
    dashboard,
    login,
    models,
    projects,
    queues,
    search,
    search_start,
    table,
    task,
)

__all__ = ["build_ui_router", "html_page"]


def build_ui_router() -> APIRouter:
    """Every page and asset route of the UI (not part of the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)
    for module in (assets, login, projects, table, task, compare, search, search_start,
                   queues, models, dashboard):
        router.include_router(module.router)
    return router
