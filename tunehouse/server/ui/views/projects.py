"""The projects page: every project with its task count, running tasks and last activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from tunehouse.server.ui.pages import Page, redirect
from tunehouse.server.ui.render import render
from tunehouse.store.records import Project, TaskQuery, TaskStatus

router = APIRouter()


@dataclass
class ProjectRow:
    project: Project
    tasks: int
    running: int
    last_activity: datetime | None


@router.get("/")
def home(who: Page) -> Response:
    """The start page is the projects list."""
    return redirect("/projects")


@router.get("/projects")
def projects_page(request: Request, who: Page) -> Response:
    """Projects by name, with counts and the time of their latest change."""
    tasks = who.store.tasks
    rows = []
    for project in tasks.list_projects():
        latest = tasks.list_tasks(TaskQuery(project=project.id, order_by="updated", limit=1))
        running = tasks.list_tasks(TaskQuery(project=project.id, limit=1,
                                             status=[TaskStatus.in_progress]))
        rows.append(ProjectRow(project, latest.total, running.total,
                               latest.tasks[0].updated if latest.tasks else None))
    return render(request, "projects.html", title="Projects · tunehouse", user=who.user,
                  rows=rows)
