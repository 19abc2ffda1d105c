"""The model registry."""

from __future__ import annotations

import abc

from tunehouse.store.records import Model, ModelCreate, ModelUpdate


class ModelStore(abc.ABC):
    """Versioned models: each version refers to a stored blob and, usually, to a task."""

    @abc.abstractmethod
    def create_model(self, spec: ModelCreate) -> Model:
        """A new version of the model called ``spec.name`` (1, 2, 3, ...)."""

    @abc.abstractmethod
    def get_model(self, model_id: str) -> Model: ...

    @abc.abstractmethod
    def find_model(self, name: str, version: int | None = None, stage: str | None = None) -> Model:
        """A version by number, by stage alias, or else the latest version."""

    @abc.abstractmethod
    def list_models(self, name: str | None = None, task_id: str | None = None) -> list[Model]:
        """Models by name then version."""

    @abc.abstractmethod
    def update_model(self, model_id: str, update: ModelUpdate) -> Model:
        """Edit tags/comment or publish. A published model cannot be edited (409)."""

    @abc.abstractmethod
    def set_model_stage(self, name: str, stage: str, version: int) -> Model:
        """Point the stage alias (``production``, ...) of model ``name`` at ``version``,
        taking it from whichever version had it, and record an audit event."""
