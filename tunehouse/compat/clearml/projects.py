"""ClearML's ``projects`` service: tunehouse projects (hierarchical names ``a/b``)."""

from __future__ import annotations

import re
from typing import Any

from tunehouse.compat.clearml.call import Call, Handler
from tunehouse.compat.clearml.envelope import bad_request
from tunehouse.store.records import Project


def project_dict(project: Project) -> dict[str, Any]:
    """A tunehouse project as ClearML's project object."""
    return {"id": project.id, "name": project.name,
            "basename": project.name.rsplit("/", 1)[-1], "description": project.description,
            "user": project.user, "company": "tunehouse", "created": project.created.isoformat(),
            "tags": [], "system_tags": [], "default_output_destination": None}


def get_all(call: Call) -> dict[str, Any]:
    """``projects.get_all``: projects by ids and/or ``name`` (a regular expression)."""
    body = call.body
    ids = body.texts("id")
    name = body.text("name")
    try:
        pattern = re.compile(name) if name else None
    except re.error as exc:
        raise bad_request(f"projects.get_all: name is not a regular expression: {exc}") from None
    found = [project for project in call.store.tasks.list_projects()
             if (ids is None or project.id in ids)
             and (pattern is None or pattern.search(project.name))]
    page = body.integer("page", 0) or 0
    size = body.integer("page_size") or len(found) or 1
    return {"projects": [project_dict(p) for p in found[page * size:(page + 1) * size]]}


def get_by_id(call: Call) -> dict[str, Any]:
    """``projects.get_by_id``."""
    return {"project": project_dict(call.store.tasks.get_project(call.body.req_text("project")))}


def create(call: Call) -> dict[str, Any]:
    """``projects.create``: the project called ``name`` (created when missing)."""
    body = call.body
    project = call.store.tasks.get_or_create_project(body.req_text("name"),
                                                     body.text("description") or "")
    return {"id": project.id}


ACTIONS: dict[str, Handler] = {
    "projects.get_all": get_all, "projects.get_all_ex": get_all,
    "projects.get_by_id": get_by_id, "projects.create": create,
}

#: ClearML's project endpoints not served yet.
NOT_YET = frozenset({"projects.update", "projects.delete", "projects.merge", "projects.move",
                     "projects.validate_delete", "projects.get_unique_metric_variants",
                     "projects.get_hyper_parameters", "projects.get_task_tags",
                     "projects.get_model_tags"})
