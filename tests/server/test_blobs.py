"""Blob upload and download through a real server."""

from __future__ import annotations

import hashlib
import io
import os

import httpx

from tests.helpers.server import ServerProcess
from tunehouse.store.records import ArtifactCreate, TaskCreate

SIZE = 20 * 1024 * 1024 + 123


def test_twenty_megabyte_blob_round_trip(server: ServerProcess) -> None:
    data = os.urandom(SIZE)
    digest = hashlib.sha256(data).hexdigest()
    store = server.store()
    try:
        blob = store.artifacts.put_blob(io.BytesIO(data))
        assert (blob.sha256, blob.size) == (digest, SIZE)
        received = hashlib.sha256()
        size = 0
        for chunk in store.artifacts.open_blob(digest):
            received.update(chunk)
            size += len(chunk)
        assert (received.hexdigest(), size) == (digest, SIZE)

        task = store.tasks.create_task(TaskCreate(project="blobs", name="with artifact"))
        artifact = store.artifacts.add_artifact(task.id, ArtifactCreate(
            name="weights.bin", sha256=digest, size=SIZE, metadata={"epoch": 3}))
        assert artifact.sha256 == digest and artifact.metadata == {"epoch": 3}
        assert [a.name for a in store.artifacts.list_artifacts(task.id)] == ["weights.bin"]
    finally:
        store.close()


def test_raw_upload_is_streamed_and_downloadable(server: ServerProcess) -> None:
    data = b"hello tunehouse\n" * 1000
    with httpx.Client(base_url=f"{server.url}/api/v1",
                      auth=(server.access_key, server.secret_key), timeout=60) as api:
        response = api.put("/blobs", content=iter([data[:7000], data[7000:]]))
        assert response.status_code == 201
        sha = response.json()["sha256"]
        assert sha == hashlib.sha256(data).hexdigest()
        download = api.get(f"/blobs/{sha}")
        assert download.status_code == 200 and download.content == data
        assert download.headers["content-type"] == "application/octet-stream"
        empty = api.put("/blobs", content=b"")
        assert empty.status_code == 201 and empty.json()["size"] == 0
        unknown = api.post(f"/tasks/{'0' * 32}/artifacts", json={
            "name": "a", "sha256": sha, "size": len(data)})
        assert unknown.status_code == 404
