"""The experiment table of a project: the read model's filters, chosen columns
(parameters; last/min/max of metrics), any sort order and keyset pages, with
multi-select actions (compare, archive, abort, enqueue, delete) done by ``table.js``
through the JSON API.

The table remembers, per user and project, the columns and sort chosen last (the
preference ``table:<project id>``, :class:`tunehouse.store.preferences.TableView`,
written by ``table.js`` through ``PUT /preferences/{key}``): a URL without ``col`` and
``order`` shows them. Columns and filters are picked from what the project recorded
(:func:`tunehouse.server.ui.columns.column_choices`, ``column_picker.js``) or typed.
Everything the table shows is in the URL (``col``, ``filter``, ``status``, ``q``,
``order``, ``asc``, ``cursor``; ``parent`` keeps only the children of a task: the search
page opens its trials so), so a view can be bookmarked and shared.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from tunehouse.errors import InvalidInput
from tunehouse.server.ui.columns import column_choices
from tunehouse.server.ui.pages import Page
from tunehouse.server.ui.render import render
from tunehouse.store.preferences import TABLE_PREFIX, TableView
from tunehouse.store.records import ARCHIVED_TAG, TaskQuery, TaskStatus

router = APIRouter()

PAGE_SIZE = 50

Many = Annotated[list[str] | None, Query()]


@router.get("/projects/{project_id}/tasks")
def table_page(request: Request, project_id: str, who: Page, col: Many = None,
               filter: Many = None, status: Many = None, q: str = "", tag: str = "",
               archived: bool = False, order: str | None = None, asc: bool = False,
               cursor: str | None = None, parent: str = "",
               limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE) -> Response:
    """One page of the project's tasks; archived ones (tagged ``archived``) only with
    ``archived=1``; ``parent``: only the children of that task (a search's trials)."""
    store = who.store.tasks
    project = store.get_project(project_id)
    remembered = _remembered(who, project.id)
    chosen = col is not None or order is not None  # else: the view the user chose last
    if col is None:
        col = remembered.col
    if order is None:
        order, asc = remembered.order, remembered.asc
    columns = [c.strip() for c in col or [] if c.strip()]
    filters = [f.strip() for f in filter or [] if f.strip()]
    try:
        statuses = [TaskStatus(s) for s in status or [] if s]
    except ValueError as exc:
        raise InvalidInput(f"unknown status in {status}: {exc}") from None
    query = TaskQuery(project=project.id, columns=columns or None, filters=filters or None,
                      status=statuses or None, name=q or None, parent_id=parent or None, tags=[tag] if tag else None,
                      exclude_tags=None if archived or tag == ARCHIVED_TAG else [ARCHIVED_TAG],
                      order_by=order, descending=not asc, cursor=cursor, limit=limit)
    page = store.list_tasks(query)
    state = {"col": columns, "filter": filters, "status": [s.value for s in statuses],
             "q": q, "tag": tag, "archived": "1" if archived else "", "order": order,
             "asc": "1" if asc else "", "parent": parent, "limit": limit}
    next_url = (_url(project.id, state, cursor=page.next_cursor)
                if page.next_cursor else None)
    return render(request, "table.html", title=f"{project.name} · tunehouse", user=who.user,
                  project=project, page=page, parent=parent,
                  view_key=f"{TABLE_PREFIX}{project.id}",
                  view={"col": columns, "order": order, "asc": asc},
                  remember=chosen and not parent and remembered.model_dump() != {
                      "col": columns, "order": order, "asc": asc}, columns=columns, filters=filters,
                  statuses=[s.value for s in TaskStatus], chosen_status=state["status"],
                  q=q, tag=tag, archived=archived, order=order, asc=asc, next_url=next_url,
                  first_url=_url(project.id, state) if cursor else None,
                  choices=column_choices(who, project.id),
                  sort_url=lambda spec: _url(project.id, {
                      **state, "order": spec, "asc": "1" if order == spec and not asc else ""}),
                  queues=[queue.name for queue in who.store.queues.list_queues()])


def _remembered(who: Page, project_id: str) -> TableView:
    """The columns and sort the user chose last for the project's table (the preference
    ``table:<project id>``; the default view when none, or when it no longer checks)."""
    try:
        return TableView.model_validate(who.accounts.preferences.get_preference(
            f"{TABLE_PREFIX}{project_id}") or {})
    except ValidationError:
        return TableView()


def _url(project_id: str, state: dict[str, object], cursor: str | None = None) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in state.items():
        if isinstance(value, list):
            pairs.extend((key, str(item)) for item in value)
        elif value not in ("", None):
            pairs.append((key, str(value)))
    if cursor:
        pairs.append(("cursor", cursor))
    return f"/projects/{project_id}/tasks?{urlencode(pairs)}"
