"""Models: versioned weights registered by tasks, with stage aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from tunehouse.server.api._deps import Acting
from tunehouse.store.records import NAME_MAX, Input, Model, ModelCreate, ModelUpdate

router = APIRouter(tags=["models"])


class StageAssignment(Input):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    stage: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)


@router.post("/models", response_model=Model, status_code=201)
def create_model(body: ModelCreate, who: Acting) -> Model:
    """A new version of the model called ``name``."""
    return who.store.create_model(body)


@router.get("/models", response_model=list[Model])
def list_models(who: Acting, name: str | None = None, task_id: str | None = None) -> list[Model]:
    return who.store.list_models(name=name, task_id=task_id)


@router.get("/models/find", response_model=Model)
def find_model(who: Acting, name: Annotated[str, Query(min_length=1)],
               version: Annotated[int | None, Query(ge=1)] = None,
               stage: str | None = None) -> Model:
    """A version by number, by stage alias, or else the latest version."""
    return who.store.find_model(name, version=version, stage=stage)


@router.post("/models/stage", response_model=Model)
def set_model_stage(body: StageAssignment, who: Acting) -> Model:
    """Point a stage alias of a model at one of its versions."""
    return who.store.set_model_stage(body.name, body.stage, body.version)


@router.get("/models/{model_id}", response_model=Model)
def get_model(model_id: str, who: Acting) -> Model:
    return who.store.get_model(model_id)


@router.patch("/models/{model_id}", response_model=Model)
def update_model(model_id: str, body: ModelUpdate, who: Acting) -> Model:
    return who.store.update_model(model_id, body)
