"""The JSON API under ``/api/v1``: one module per store area (``tasks``, ``events``,
``artifacts``, ``models``, ``queues``) plus the server's own operations (``accounts``,
``access``: project roles, ``health``), each exposing ``router``. Paths come from :mod:`tunehouse.contract`."""

from __future__ import annotations

from fastapi import APIRouter

from tunehouse.contract import API_PREFIX
from tunehouse.server.api import (
    access,
    accounts,
    artifacts,
    events,
    health,
    models,
    queues,
    tasks,
)

__all__ = ["API_PREFIX", "build_router"]


def build_router() -> APIRouter:
    """All API routes, relative to :data:`~tunehouse.contract.API_PREFIX`."""
    router = APIRouter()
    for module in (health, accounts, access, tasks, events, artifacts, models, queues):
        router.include_router(module.router)
    return router
