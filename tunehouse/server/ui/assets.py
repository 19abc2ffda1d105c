"""Every asset the UI needs, served by this server (for an air-gapped intranet): the
UI's own scripts and styles, plotly.js from the installed ``plotly`` package, and
Swagger UI 5 (which renders OpenAPI 3.1) from the installed ``fastapi-offline-docs``
package for the API docs page.

The packages are located without importing them (plotly's import is slow).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from tunehouse.contract import API_PREFIX
from tunehouse.errors import NotFound
from tunehouse.server.ui.render import render

STATIC = Path(__file__).parent / "static"
CACHE = {"Cache-Control": "public, max-age=3600"}

router = APIRouter()


@cache
def package_dir(name: str) -> Path:
    """The folder of installed package ``name`` (not imported); NotFound when missing."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise NotFound(f"the {name!r} package is not installed on the server")
    return Path(next(iter(spec.submodule_search_locations)))


def mount_static(app: FastAPI) -> None:
    """Serve ``/static/ui`` (the UI's files) and ``/static/swagger`` (Swagger UI)."""
    app.mount("/static/ui", StaticFiles(directory=STATIC), name="ui-static")
    try:
        swagger = package_dir("fastapi_offline_docs") / "static"
    except NotFound:
        return
    app.mount("/static/swagger", StaticFiles(directory=swagger), name="swagger-static")


@router.get("/static/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    """plotly.js as shipped in the ``plotly`` Python package."""
    path = package_dir("plotly") / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise NotFound("plotly.min.js is missing from the installed plotly package")
    return FileResponse(path, media_type="text/javascript", headers=CACHE)


@router.get(f"{API_PREFIX}/docs")
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI for the OpenAPI document, with scripts and styles from this server and
    the headers of every page (its Content-Security-Policy: nothing inline, no framing)."""
    return render(request, "api_docs.html", title="tunehouse API")
