"""ClearML's model records on SQL (see
:class:`~tunehouse.store.interfaces.clearml_models.ClearmlModelStore`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tunehouse.errors import NotFound
from tunehouse.store import schema as t
from tunehouse.store.interfaces.clearml_models import ClearmlModelStore
from tunehouse.store.sql.database import DbRow, SqlArea, new_id, utcnow

_C = t.clearml_models.c


def _record(row: DbRow) -> dict[str, Any]:
    return {**row.data, "id": row.id, "task": row.task_id, "name": row.name, "user": row.user,
            "created": row.created.isoformat(), "last_update": row.updated.isoformat()}


def _data(data: dict[str, Any]) -> dict[str, Any]:
    kept = ("id", "task", "name", "user", "created", "last_update")
    return {key: value for key, value in data.items() if key not in kept}


class SqlClearmlModelStore(SqlArea, ClearmlModelStore):
    """ClearML's model records in the ``clearml_models`` table."""

    def create_record(self, task_id: str | None, name: str, data: dict[str, Any]) -> dict[str, Any]:
        model_id, now = new_id(), utcnow()
        with self._write() as conn:
            conn.execute(sa.insert(t.clearml_models).values(
                id=model_id, task_id=task_id, name=name, data=_data(data), user=self.user,
                created=now, updated=now))
            return self._get(conn, model_id)

    def get_record(self, model_id: str) -> dict[str, Any]:
        with self._read() as conn:
            return self._get(conn, model_id)

    def _get(self, conn: sa.Connection, model_id: str) -> dict[str, Any]:
        row = conn.execute(sa.select(t.clearml_models).where(_C.id == model_id)).first()
        if row is None:
            raise NotFound(f"model {model_id!r} not found")
        return _record(row)

    def update_record(self, model_id: str, task_id: str | None, name: str,
                      data: dict[str, Any]) -> dict[str, Any]:
        with self._write() as conn:
            done = conn.execute(sa.update(t.clearml_models).where(_C.id == model_id).values(
                task_id=task_id, name=name, data=_data(data), updated=utcnow()))
            if done.rowcount == 0:
                raise NotFound(f"model {model_id!r} not found")
            return self._get(conn, model_id)

    def list_records(self, ids: list[str] | None = None,
                     task_ids: list[str] | None = None) -> list[dict[str, Any]]:
        query = sa.select(t.clearml_models).order_by(_C.created, _C.id)
        if ids is not None:
            query = query.where(_C.id.in_(ids))
        if task_ids is not None:
            query = query.where(_C.task_id.in_(task_ids))
        with self._read() as conn:
            return [_record(row) for row in conn.execute(query).all()]
