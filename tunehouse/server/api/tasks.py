"""The ``tasks`` area: projects (hierarchical names such as ``team/vision/mnist``), tasks,
their status, parameters, configurations, script and environment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from tunehouse.server.api._deps import (
    Acting,
    AdminOnly,
    TaskId,
    json_body_doc,
    operation,
    parse_json_body,
)
from tunehouse.server.bodies import LARGE_BODY_BYTES
from tunehouse.server.json_stream import PARAMETER_LIST, parameter_chunks
from tunehouse.store.base import Store
from tunehouse.store.records import (
    CHILDREN_WAIT_MAX_S,
    LOST_AFTER_S,
    Configuration,
    Environment,
    Input,
    Name,
    Parameter,
    Project,
    Record,
    Script,
    StatusChange,
    Task,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskUpdate,
)

router = APIRouter(tags=["tasks"])


class AbortRequest(Input):
    reason: str = ""


class CloneRequest(Input):
    name: Name | None = None
    parent_id: str | None = None
    project: Name | None = None


class ProjectCreate(Input):
    name: Name
    description: str = ""


@operation(router, "tasks.get_or_create_project", response_model=Project)
def get_or_create_project(body: ProjectCreate, who: Acting) -> Project:
    """The project called ``name``, created when missing."""
    return who.store.tasks.get_or_create_project(body.name, body.description)


@operation(router, "tasks.list_projects", response_model=list[Project])
def list_projects(who: Acting) -> list[Project]:
    return who.store.tasks.list_projects()


@operation(router, "tasks.get_project", response_model=Project)
def get_project(name_or_id: str, who: Acting) -> Project:
    return who.store.tasks.get_project(name_or_id)


@operation(router, "tasks.create_task", response_model=Task, status_code=201)
def create_task(body: TaskCreate, who: Acting) -> Task:
    return who.store.tasks.create_task(body)


@operation(router, "tasks.list_tasks", response_model=TaskPage)
def list_tasks(query: Annotated[TaskQuery, Query()], who: Acting) -> TaskPage:
    """Tasks matching the filters, with the values of ``columns`` and the ``next_cursor``;
    repeat ``status``, ``type``, ``tags``, ``filters`` and ``columns`` for several
    (``?filters=param:General/lr>=0.001&columns=metric:val/loss:min``)."""
    return who.store.tasks.list_tasks(query)


@operation(router, "tasks.get_task", response_model=Task)
def get_task(task_id: TaskId, who: Acting) -> Task:
    return who.store.tasks.get_task(task_id)


@operation(router, "tasks.update_task", response_model=Task)
def update_task(task_id: TaskId, body: TaskUpdate, who: Acting) -> Task:
    return who.store.tasks.update_task(task_id, body)


@operation(router, "tasks.delete_task", status_code=204, response_class=Response)
def delete_task(task_id: TaskId, who: Acting) -> Response:
    who.store.tasks.delete_task(task_id)
    return Response(status_code=204)


@operation(router, "tasks.change_status", response_model=Task)
def change_status(task_id: TaskId, body: StatusChange, who: Acting) -> Task:
    return who.store.tasks.change_status(task_id, body)


@operation(router, "tasks.request_abort", response_model=Task)
def request_abort(task_id: TaskId, body: AbortRequest, who: Acting) -> Task:
    return who.store.tasks.request_abort(task_id, body.reason)


class ReapRequest(Input):
    lost_after_s: float = Field(default=LOST_AFTER_S, gt=0, le=366 * 86400)


@operation(router, "tasks.mark_alive", response_model=Task)
def mark_alive(task_id: TaskId, who: Acting) -> Task:
    """A sign of life of the task's process; the answer carries ``abort_requested``."""
    return who.store.tasks.mark_alive(task_id)


class ChildrenVersion(Record):
    version: str


@operation(router, "tasks.wait_for_children", response_model=ChildrenVersion)
def wait_for_children(task_id: TaskId, who: Acting, since: str | None = None,
                      wait_s: Annotated[float, Query(ge=0, le=CHILDREN_WAIT_MAX_S)] = 0.0
                      ) -> ChildrenVersion:
    """The version of the task's children (changes when one is created, deleted or
    written); waits up to ``wait_s`` for it to differ from ``since`` (long poll)."""
    return ChildrenVersion(version=who.store.tasks.wait_for_children(task_id, since, wait_s))


@operation(router, "tasks.reap_lost_tasks", response_model=list[Task])
def reap_lost_tasks(body: ReapRequest, who: AdminOnly) -> list[Task]:
    """Run the watchdog's pass now (admins): fail running tasks without an agent that
    showed no life for ``lost_after_s``, end aborted ones that are quiet."""
    return who.store.tasks.reap_lost_tasks(body.lost_after_s)


@operation(router, "tasks.clone_task", response_model=Task, status_code=201)
def clone_task(task_id: TaskId, body: CloneRequest, who: Acting) -> Task:
    return who.store.tasks.clone_task(task_id, name=body.name, parent_id=body.parent_id,
                                project=body.project)


@operation(router, "tasks.set_parameters", status_code=204, response_class=Response,
           openapi_extra=json_body_doc(Parameter, many=True))
async def set_parameters(task_id: TaskId, request: Request, who: Acting,
                         replace: bool = False) -> Response:
    """Upsert parameters by (section, name); ``replace=true`` first drops all others. A
    body over 4 MiB is parsed and written in chunks (:mod:`tunehouse.server.json_stream`),
    so a long list costs the server about its size in memory, not ten times that."""
    body = await request.body()
    await run_in_threadpool(_store_parameters, who.store, task_id, body, replace)
    return Response(status_code=204)


def _store_parameters(store: Store, task_id: str, body: bytes, replace: bool) -> None:
    if len(body) <= LARGE_BODY_BYTES or not body.lstrip().startswith(b"["):
        # small, or not an array at all (pydantic's parser names the error)
        store.tasks.set_parameters(task_id, parse_json_body(PARAMETER_LIST, body),
                                   replace=replace)
    else:
        store.tasks.set_parameter_chunks(task_id, parameter_chunks(body), replace=replace)


@operation(router, "tasks.get_parameters", response_model=list[Parameter])
def get_parameters(task_id: TaskId, who: Acting) -> list[Parameter]:
    return who.store.tasks.get_parameters(task_id)


@operation(router, "tasks.set_configuration", status_code=204, response_class=Response)
def set_configuration(task_id: TaskId, body: Configuration, who: Acting) -> Response:
    who.store.tasks.set_configuration(task_id, body)
    return Response(status_code=204)


@operation(router, "tasks.get_configurations", response_model=list[Configuration])
def get_configurations(task_id: TaskId, who: Acting) -> list[Configuration]:
    return who.store.tasks.get_configurations(task_id)


@operation(router, "tasks.set_script", status_code=204, response_class=Response)
def set_script(task_id: TaskId, body: Script, who: Acting) -> Response:
    who.store.tasks.set_script(task_id, body)
    return Response(status_code=204)


@operation(router, "tasks.get_script", response_model=Script)
def get_script(task_id: TaskId, who: Acting) -> Script:
    return who.store.tasks.get_script(task_id)


@operation(router, "tasks.set_environment", status_code=204, response_class=Response)
def set_environment(task_id: TaskId, body: Environment, who: Acting) -> Response:
    who.store.tasks.set_environment(task_id, body)
    return Response(status_code=204)


@operation(router, "tasks.get_environment", response_model=Environment)
def get_environment(task_id: TaskId, who: Acting) -> Environment:
    return who.store.tasks.get_environment(task_id)
