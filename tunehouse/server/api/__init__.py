"""The JSON API under ``/api/v1``: one module per concept, each exposing ``router``."""

from __future__ import annotations

from fastapi import APIRouter

from tunehouse.server.api import (
    audit,
    blobs,
    events,
    health,
    login,
    models,
    projects,
    queues,
    tasks,
    users,
    workers,
)

API_PREFIX = "/api/v1"


def build_router() -> APIRouter:
    """All API routes, relative to :data:`API_PREFIX`."""
    router = APIRouter()
    for module in (health, login, projects, tasks, events, blobs, models, queues, workers,
                   users, audit):
        router.include_router(module.router)
    return router
