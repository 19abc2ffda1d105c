"""ClearML's model records, for the ClearML API (:mod:`tunehouse.compat.clearml`).

A ClearML model is registered by URI before (or without) its weights and found by id
alone, so it is not a tunehouse model version (which needs its content's sha256): its
record is kept here, and the ClearML API makes a model version when the URI names a file
of the ClearML file server. Only the SQL store has this area; the server hands it to the
ClearML API, which checks permissions against the task of each record.
"""

from __future__ import annotations

import abc
from typing import Any


class ClearmlModelStore(abc.ABC):
    """Records ``{"id", "task", "name", "user", "created", "last_update", ...}``: the
    store keeps ``id``, ``task``, ``name``, ``user`` and the times; every other key is
    kept as given (JSON)."""

    @abc.abstractmethod
    def create_record(self, task_id: str | None, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """A new record made by the store's user, with a new 32-hex id."""

    @abc.abstractmethod
    def get_record(self, model_id: str) -> dict[str, Any]:
        """The record ``model_id``; NotFound when there is none."""

    @abc.abstractmethod
    def update_record(self, model_id: str, task_id: str | None, name: str,
                      data: dict[str, Any]) -> dict[str, Any]:
        """Replace the task, name and data of record ``model_id`` (NotFound if none)."""

    @abc.abstractmethod
    def list_records(self, ids: list[str] | None = None,
                     task_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Records by id or task (all when neither is given), oldest first."""
