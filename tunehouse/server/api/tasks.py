"""Tasks and what hangs off them: status, parameters, configurations, script,
environment, metrics, scalars, console logs, artifacts and queue placement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import Field

from tunehouse.server.api._deps import Acting, TaskId
from tunehouse.store.records import (
    NAME_MAX,
    Artifact,
    ArtifactCreate,
    Configuration,
    Environment,
    Input,
    LogLine,
    MetricSummary,
    Parameter,
    Script,
    SeriesData,
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
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    parent_id: str | None = None
    project: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)


class EnqueueRequest(Input):
    queue: str = Field(min_length=1, max_length=NAME_MAX)
    priority: int = 0


@router.post("/tasks", response_model=Task, status_code=201)
def create_task(body: TaskCreate, who: Acting) -> Task:
    return who.store.create_task(body)


@router.get("/tasks", response_model=TaskPage)
def list_tasks(query: Annotated[TaskQuery, Query()], who: Acting) -> TaskPage:
    """Tasks matching the filters; repeat ``status``, ``type`` and ``tags`` for several."""
    return who.store.list_tasks(query)


@router.get("/tasks/{task_id}", response_model=Task)
def get_task(task_id: TaskId, who: Acting) -> Task:
    return who.store.get_task(task_id)


@router.patch("/tasks/{task_id}", response_model=Task)
def update_task(task_id: TaskId, body: TaskUpdate, who: Acting) -> Task:
    return who.store.update_task(task_id, body)


@router.delete("/tasks/{task_id}", status_code=204, response_class=Response)
def delete_task(task_id: TaskId, who: Acting) -> Response:
    who.store.delete_task(task_id)
    return Response(status_code=204)


@router.post("/tasks/{task_id}/status", response_model=Task)
def change_status(task_id: TaskId, body: StatusChange, who: Acting) -> Task:
    return who.store.change_status(task_id, body)


@router.post("/tasks/{task_id}/abort", response_model=Task)
def request_abort(task_id: TaskId, body: AbortRequest, who: Acting) -> Task:
    return who.store.request_abort(task_id, body.reason)


@router.post("/tasks/{task_id}/clone", response_model=Task, status_code=201)
def clone_task(task_id: TaskId, body: CloneRequest, who: Acting) -> Task:
    return who.store.clone_task(task_id, name=body.name, parent_id=body.parent_id,
                                project=body.project)


@router.post("/tasks/{task_id}/enqueue", response_model=Task)
def enqueue(task_id: TaskId, body: EnqueueRequest, who: Acting) -> Task:
    return who.store.enqueue(task_id, body.queue, body.priority)


@router.post("/tasks/{task_id}/dequeue", response_model=Task)
def dequeue(task_id: TaskId, who: Acting) -> Task:
    return who.store.dequeue(task_id)


@router.put("/tasks/{task_id}/parameters", status_code=204, response_class=Response)
def set_parameters(task_id: TaskId, body: list[Parameter], who: Acting,
                   replace: bool = False) -> Response:
    """Upsert parameters by (section, name); ``replace=true`` first drops all others."""
    who.store.set_parameters(task_id, body, replace=replace)
    return Response(status_code=204)


@router.get("/tasks/{task_id}/parameters", response_model=list[Parameter])
def get_parameters(task_id: TaskId, who: Acting) -> list[Parameter]:
    return who.store.get_parameters(task_id)


@router.put("/tasks/{task_id}/configurations", status_code=204, response_class=Response)
def set_configuration(task_id: TaskId, body: Configuration, who: Acting) -> Response:
    who.store.set_configuration(task_id, body)
    return Response(status_code=204)


@router.get("/tasks/{task_id}/configurations", response_model=list[Configuration])
def get_configurations(task_id: TaskId, who: Acting) -> list[Configuration]:
    return who.store.get_configurations(task_id)


@router.put("/tasks/{task_id}/script", status_code=204, response_class=Response)
def set_script(task_id: TaskId, body: Script, who: Acting) -> Response:
    who.store.set_script(task_id, body)
    return Response(status_code=204)


@router.get("/tasks/{task_id}/script", response_model=Script)
def get_script(task_id: TaskId, who: Acting) -> Script:
    return who.store.get_script(task_id)


@router.put("/tasks/{task_id}/environment", status_code=204, response_class=Response)
def set_environment(task_id: TaskId, body: Environment, who: Acting) -> Response:
    who.store.set_environment(task_id, body)
    return Response(status_code=204)


@router.get("/tasks/{task_id}/environment", response_model=Environment)
def get_environment(task_id: TaskId, who: Acting) -> Environment:
    return who.store.get_environment(task_id)


@router.get("/tasks/{task_id}/metrics", response_model=list[MetricSummary])
def get_metric_summaries(task_id: TaskId, who: Acting) -> list[MetricSummary]:
    return who.store.get_metric_summaries(task_id)


@router.get("/tasks/{task_id}/scalars", response_model=list[SeriesData])
def get_scalars(task_id: TaskId, who: Acting, title: str | None = None,
                series: str | None = None,
                max_points: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
                ) -> list[SeriesData]:
    """Reported series; with ``max_points`` longer series are downsampled."""
    return who.store.get_scalars(task_id, title=title, series=series, max_points=max_points)


@router.get("/tasks/{task_id}/logs", response_model=list[LogLine])
def get_logs(task_id: TaskId, who: Acting,
             after_seq: Annotated[int, Query(ge=0)] = 0,
             limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> list[LogLine]:
    """Console lines with ``seq > after_seq``, oldest first."""
    return who.store.get_logs(task_id, after_seq=after_seq, limit=limit)


@router.post("/tasks/{task_id}/artifacts", response_model=Artifact, status_code=201)
def add_artifact(task_id: TaskId, body: ArtifactCreate, who: Acting) -> Artifact:
    """Register an artifact whose blob was uploaded with ``PUT /blobs``."""
    return who.store.add_artifact(task_id, body)


@router.get("/tasks/{task_id}/artifacts", response_model=list[Artifact])
def list_artifacts(task_id: TaskId, who: Acting) -> list[Artifact]:
    return who.store.list_artifacts(task_id)
