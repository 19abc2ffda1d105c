"""Contract of the ``artifacts`` area: blobs and task artifacts.

Run against every backend (SQLite, PostgreSQL, HTTP to a server); the HTTP backend shares one
server per module, so every test names its projects, queues, models and workers uniquely.
"""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from tests.store.contract.helpers import new_task, put_bytes
from tunehouse.errors import (
    NotFound,
)
from tunehouse.store.base import Store
from tunehouse.store.records import (
    ArtifactCreate,
)


# ---------------------------------------------------------------- blobs and artifacts
def test_blob_round_trip_of_a_few_megabytes(store: Store) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    blob = store.artifacts.put_blob(io.BytesIO(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    assert b"".join(store.artifacts.open_blob(blob.sha256)) == data
    assert store.artifacts.put_blob(io.BytesIO(data)) == blob
    with pytest.raises(NotFound):
        b"".join(store.artifacts.open_blob(hashlib.sha256(b"never stored").hexdigest()))


def test_artifacts_register_and_replace(store: Store) -> None:
    task_id = new_task(store)
    sha, size = put_bytes(store, b"v1")
    first = store.artifacts.add_artifact(task_id, ArtifactCreate(name="model", sha256=sha, size=size,
                                                       metadata={"epoch": 1}))
    assert first.task_id == task_id and first.created.tzinfo is not None
    sha2, size2 = put_bytes(store, b"version 2")
    store.artifacts.add_artifact(task_id, ArtifactCreate(name="model", sha256=sha2, size=size2,
                                               kind="keras"))
    store.artifacts.add_artifact(task_id, ArtifactCreate(name="data", sha256=sha, size=size))
    artifacts = store.artifacts.list_artifacts(task_id)
    assert [(a.name, a.sha256, a.kind) for a in artifacts] == [("data", sha, "file"),
                                                               ("model", sha2, "keras")]
    missing = hashlib.sha256(b"absent").hexdigest()
    with pytest.raises(NotFound):
        store.artifacts.add_artifact(task_id, ArtifactCreate(name="x", sha256=missing, size=1))
