"""The ``models`` area: versioned weights registered by tasks, with stage aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from tunehouse.server.api._deps import Acting, operation
from tunehouse.store.records import Input, Model, ModelCreate, ModelUpdate, Name

router = APIRouter(tags=["models"])


class StageAssignment(Input):
    name: Name
    stage: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)


@operation(router, "models.create_model", response_model=Model, status_code=201)
def create_model(body: ModelCreate, who: Acting) -> Model:
    """A new version of the model called ``name``."""
    return who.store.models.create_model(body)


@operation(router, "models.list_models", response_model=list[Model])
def list_models(who: Acting, name: str | None = None, task_id: str | None = None) -> list[Model]:
    return who.store.models.list_models(name=name, task_id=task_id)


@operation(router, "models.find_model", response_model=Model)
def find_model(who: Acting, name: Annotated[str, Query(min_length=1)],
               version: Annotated[int | None, Query(ge=1)] = None,
               stage: str | None = None) -> Model:
    """A version by number, by stage alias, or else the latest version."""
    return who.store.models.find_model(name, version=version, stage=stage)


@operation(router, "models.set_model_stage", response_model=Model)
def set_model_stage(body: StageAssignment, who: Acting) -> Model:
    """Point a stage alias of a model at one of its versions."""
    return who.store.models.set_model_stage(body.name, body.stage, body.version)


@operation(router, "models.get_model", response_model=Model)
def get_model(model_id: str, who: Acting) -> Model:
    return who.store.models.get_model(model_id)


@operation(router, "models.update_model", response_model=Model)
def update_model(model_id: str, body: ModelUpdate, who: Acting) -> Model:
    return who.store.models.update_model(model_id, body)
