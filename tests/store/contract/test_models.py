"""Contract of the ``models`` area: versions, stages, publishing.

Run against every backend (SQLite, PostgreSQL, HTTP to a server); the HTTP backend shares one
server per module, so every test names its projects, queues, models and workers uniquely.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.store.contract.helpers import new_task, put_bytes, unique
from tunehouse.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from tunehouse.store.base import Store
from tunehouse.store.records import (
    ModelCreate,
    ModelUpdate,
)


# ---------------------------------------------------------------- models
def test_model_versions_stages_and_audit(store: Store, audit_log: Any) -> None:
    name = unique("model")
    task_id = new_task(store)
    sha, size = put_bytes(store, b"weights")
    v1 = store.models.create_model(ModelCreate(name=name, framework="keras", sha256=sha, size=size,
                                        task_id=task_id, tags=["a"]))
    v2 = store.models.create_model(ModelCreate(name=name, sha256=sha, size=size))
    v3 = store.models.create_model(ModelCreate(name=name, sha256=sha, size=size))
    assert [v1.version, v2.version, v3.version] == [1, 2, 3]
    assert v1.user == store.user and v1.task_id == task_id
    assert store.models.get_model(v2.id) == v2
    assert store.models.find_model(name).id == v3.id
    assert store.models.find_model(name, version=1).id == v1.id
    assert [m.version for m in store.models.list_models(name=name)] == [1, 2, 3]
    assert [m.id for m in store.models.list_models(task_id=task_id)] == [v1.id]
    with pytest.raises(NotFound):
        store.models.find_model(name, stage="production")
    with pytest.raises(NotFound):
        store.models.find_model(name, version=9)
    promoted = store.models.set_model_stage(name, "production", 3)
    assert promoted.stages == ["production"]
    rolled_back = store.models.set_model_stage(name, "production", 2)
    assert rolled_back.id == v2.id and rolled_back.stages == ["production"]
    assert store.models.get_model(v3.id).stages == []
    assert store.models.find_model(name, stage="production").id == v2.id
    events = audit_log.list_audit_events(target_type="model", target_id=name)
    assert [(e.action, e.details["from"], e.details["to"]) for e in events] == [
        ("model.stage", 3, 2), ("model.stage", None, 3)]
    assert events[0].user == store.user
    with pytest.raises(NotFound):
        store.models.set_model_stage(name, "production", 7)
    with pytest.raises(InvalidInput):
        store.models.set_model_stage(name, "bad stage!", 1)


def test_published_models_are_immutable(store: Store) -> None:
    name = unique("model")
    sha, size = put_bytes(store, b"w")
    model = store.models.create_model(ModelCreate(name=name, sha256=sha, size=size))
    edited = store.models.update_model(model.id, ModelUpdate(tags=["x"], comment="c"))
    assert (edited.tags, edited.comment) == (["x"], "c")
    published = store.models.update_model(model.id, ModelUpdate(published=True))
    assert published.published
    assert store.models.update_model(model.id, ModelUpdate(published=True, comment="c")) == published
    with pytest.raises(Conflict):
        store.models.update_model(model.id, ModelUpdate(comment="changed"))
    with pytest.raises(Conflict):
        store.models.update_model(model.id, ModelUpdate(published=False))
    with pytest.raises(NotFound):
        store.models.create_model(ModelCreate(name=name, sha256=hashlib.sha256(b"no").hexdigest(),
                                       size=2))
