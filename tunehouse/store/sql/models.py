"""The model registry of the SQL store.

Audited on target ``model`` (the model's name), in the transaction of the change:
``model.publish`` (the version and its id) and ``model.stage`` (stage, ``from`` the
version that held it before (null: none), ``to``, and ``kind``: ``rollback`` when the
stage moves to an earlier version than it held, else ``promote``).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import Conflict, InvalidInput, NotFound
from tunehouse.store import schema as t
from tunehouse.store.interfaces.models import ModelStore
from tunehouse.store.records import Model, ModelCreate, ModelUpdate
from tunehouse.store.sql.artifacts import check_blob
from tunehouse.store.sql.database import DbRow, SqlArea, check_name, new_id, utcnow

_STAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VERSION_RETRIES = 5


def check_stage(stage: str) -> str:
    if not isinstance(stage, str) or not _STAGE.match(stage):
        raise InvalidInput(
            f"invalid stage {stage!r}: 1 to 64 letters, digits, '_', '.' or '-'")
    return stage


class SqlModelStore(SqlArea, ModelStore):
    """The model registry on SQL (see :class:`~tunehouse.store.interfaces.ModelStore`)."""

    # ------------------------------------------------------------ models
    def create_model(self, spec: ModelCreate) -> Model:
        check_name("model", spec.name)
        check_blob(self._db.blobs, spec.sha256, spec.size)
        for attempt in range(_VERSION_RETRIES):
            try:
                return self._insert_model(spec)
            except Conflict:
                if attempt == _VERSION_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _insert_model(self, spec: ModelCreate) -> Model:
        model_id = new_id()
        with self._write() as conn:
            project_id = None
            if spec.project is not None:
                project_id = self._ensure_project(conn, spec.project).id
            if spec.task_id is not None:
                task = self._task_row(conn, spec.task_id)
                project_id = project_id or task.project_id
            latest = conn.execute(sa.select(sa.func.max(t.models.c.version))
                                  .where(t.models.c.name == spec.name)).scalar_one()
            conn.execute(sa.insert(t.models).values(
                id=model_id, name=spec.name, version=(latest or 0) + 1,
                framework=spec.framework, project_id=project_id, task_id=spec.task_id,
                sha256=spec.sha256, size=spec.size, format=spec.format, tags=spec.tags,
                published=False, comment=spec.comment, metadata=spec.metadata,
                user=self.user, created=utcnow()))
            return self._model(conn, model_id)

    def _model(self, conn: Connection, model_id: str) -> Model:
        row = conn.execute(sa.select(t.models).where(t.models.c.id == model_id)).first()
        if row is None:
            raise NotFound(f"model {model_id!r} not found")
        return self._models_from_rows(conn, [row])[0]

    def _models_from_rows(self, conn: Connection, rows: list[DbRow]) -> list[Model]:
        stages: dict[str, list[str]] = {}
        if rows:
            for model_id, stage in conn.execute(
                    sa.select(t.model_stages.c.model_id, t.model_stages.c.stage)
                    .where(t.model_stages.c.model_id.in_([r.id for r in rows]))
                    .order_by(t.model_stages.c.stage)).all():
                stages.setdefault(model_id, []).append(stage)
        return [Model(id=r.id, name=r.name, version=r.version, framework=r.framework,
                      project_id=r.project_id, task_id=r.task_id, sha256=r.sha256, size=r.size,
                      format=r.format, tags=r.tags, stages=stages.get(r.id, []),
                      published=r.published, comment=r.comment, metadata=r.metadata,
                      user=r.user, created=r.created) for r in rows]

    def get_model(self, model_id: str) -> Model:
        with self._read() as conn:
            return self._model(conn, model_id)

    def find_model(self, name: str, version: int | None = None, stage: str | None = None) -> Model:
        models = t.models.c
        query = sa.select(t.models).where(models.name == name)
        if version is not None:
            query = query.where(models.version == version)
            what = f"version {version}"
        elif stage is not None:
            query = query.join(t.model_stages, t.model_stages.c.model_id == models.id).where(
                t.model_stages.c.stage == stage)
            what = f"stage {stage!r}"
        else:
            query = query.order_by(models.version.desc()).limit(1)
            what = "any version"
        with self._read() as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFound(f"model {name!r} has no {what}")
            return self._models_from_rows(conn, [row])[0]

    def list_models(self, name: str | None = None, task_id: str | None = None) -> list[Model]:
        query = sa.select(t.models).order_by(t.models.c.name, t.models.c.version)
        if name is not None:
            query = query.where(t.models.c.name == name)
        if task_id is not None:
            query = query.where(t.models.c.task_id == task_id)
        with self._read() as conn:
            return self._models_from_rows(conn, list(conn.execute(query).all()))

    def update_model(self, model_id: str, update: ModelUpdate) -> Model:
        with self._write() as conn:
            current = self._model(conn, model_id)
            values = update.model_dump(exclude_none=True)
            changed = {name: value for name, value in values.items()
                       if getattr(current, name) != value}
            if not changed:
                return current
            if current.published:
                raise Conflict(f"model {current.name} v{current.version} is published and "
                               "cannot be edited")
            conn.execute(sa.update(t.models).where(t.models.c.id == model_id).values(**changed))
            if changed.get("published"):
                self._audit(conn, "model.publish", "model", current.name,
                            {"version": current.version, "model_id": model_id})
            return self._model(conn, model_id)

    def set_model_stage(self, name: str, stage: str, version: int) -> Model:
        check_stage(stage)
        with self._write() as conn:
            target = conn.execute(sa.select(t.models.c.id).where(
                t.models.c.name == name, t.models.c.version == version)).first()
            if target is None:
                raise NotFound(f"model {name!r} has no version {version}")
            previous = conn.execute(
                sa.select(t.models.c.version)
                .join(t.model_stages, t.model_stages.c.model_id == t.models.c.id)
                .where(t.model_stages.c.model_name == name, t.model_stages.c.stage == stage)
            ).scalar_one_or_none()
            insert = self._insert(t.model_stages).values(
                model_name=name, stage=stage, model_id=target.id, user=self.user,
                updated=utcnow())
            conn.execute(insert.on_conflict_do_update(
                index_elements=["model_name", "stage"],
                set_={"model_id": insert.excluded.model_id, "user": insert.excluded.user,
                      "updated": insert.excluded.updated}))
            kind = "rollback" if previous is not None and version < previous else "promote"
            self._audit(conn, "model.stage", "model", name,
                        {"stage": stage, "from": previous, "to": version, "kind": kind})
            return self._model(conn, target.id)

