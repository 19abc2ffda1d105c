"""Liveness and readiness, without authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from tunehouse.errors import SchemaOutOfDate
from tunehouse.server.api._deps import operation
from tunehouse.store.engine import get_engine
from tunehouse.store.migrate import check_schema, current_revision
from tunehouse.version import __version__

router = APIRouter(tags=["health"])


@operation(router, "server.health")
def health(request: Request) -> dict[str, Any]:
    """Server version, database dialect and whether the schema is at this version's head."""
    engine = get_engine(request.app.state.settings.db)
    try:
        check_schema(engine)
        schema_ok, problem = True, ""
    except SchemaOutOfDate as exc:
        schema_ok, problem = False, exc.message
    return {
        "status": "ok" if schema_ok else "schema_out_of_date",
        "version": __version__,
        "db": engine.dialect.name,
        "schema_revision": current_revision(engine),
        "schema_ok": schema_ok,
        "problem": problem,
    }
