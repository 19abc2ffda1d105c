"""Projects: hierarchical names such as ``team/vision/mnist``."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from tunehouse.server.api._deps import Acting
from tunehouse.store.records import NAME_MAX, Input, Project

router = APIRouter(tags=["projects"])


class ProjectCreate(Input):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    description: str = ""


@router.post("/projects", response_model=Project)
def get_or_create_project(body: ProjectCreate, who: Acting) -> Project:
    """The project called ``name``, created when missing."""
    return who.store.get_or_create_project(body.name, body.description)


@router.get("/projects", response_model=list[Project])
def list_projects(who: Acting) -> list[Project]:
    return who.store.list_projects()


@router.get("/projects/{name_or_id:path}", response_model=Project)
def get_project(name_or_id: str, who: Acting) -> Project:
    return who.store.get_project(name_or_id)
