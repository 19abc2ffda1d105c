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
    InvalidInput,
    NotFound,
)
from tunehouse.store.base import Store
from tunehouse.store.records import (
    ArtifactCreate,
)
from tunehouse.store.uploads import BlobUpload, PartETag, UploadCompletion


# ---------------------------------------------------------------- blobs and artifacts
def test_blob_round_trip_of_a_few_megabytes(store: Store) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    blob = store.artifacts.put_blob(io.BytesIO(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    assert b"".join(store.artifacts.open_blob(blob.sha256)) == data
    assert store.artifacts.put_blob(io.BytesIO(data)) == blob
    with pytest.raises(NotFound):
        b"".join(store.artifacts.open_blob(hashlib.sha256(b"never stored").hexdigest()))


def test_local_storage_plans_uploads_through_the_server(store: Store) -> None:
    """The backends' storage is a directory: no direct uploads, no presigned URLs (S3's
    are tested in tests/server/test_s3_artifacts.py)."""
    data = os.urandom(6 * 1024 * 1024)  # large enough for the HTTP client to ask for a plan
    sha = hashlib.sha256(data).hexdigest()
    plan = store.artifacts.plan_upload(BlobUpload(sha256=sha, size=len(data)))
    assert not plan.stored and plan.upload_id is None and plan.parts == []
    assert store.artifacts.put_blob(io.BytesIO(data)).sha256 == sha
    assert store.artifacts.plan_upload(BlobUpload(sha256=sha, size=len(data))).stored
    task_id = new_task(store)
    store.artifacts.add_artifact(task_id, ArtifactCreate(name="big", sha256=sha, size=len(data)))
    assert store.artifacts.blob_url(sha).url is None
    with pytest.raises(NotFound):
        store.artifacts.blob_url(hashlib.sha256(b"never stored").hexdigest())
    with pytest.raises(InvalidInput, match="PUT /blobs"):
        store.artifacts.complete_upload(UploadCompletion(
            sha256=sha, size=len(data), upload_id="u", parts=[PartETag(number=1, etag="e")]))


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
