"""Artifacts through a real server whose blobs live in S3 (moto's server, or the store of
``TUNEHOUSE_TEST_S3``): large blobs go from the client to the bucket on presigned URLs and
back by redirect, the server only planning, checking and completing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.s3 import S3Target
from tests.helpers.server import ServerProcess, clean_env, running_server
from tests.helpers.wait import wait_for_file
from tunehouse.client.accounts import HttpAccounts
from tunehouse.client.http import HttpStore
from tunehouse.errors import InvalidInput, NotFound
from tunehouse.sdk.artifacts import upload
from tunehouse.store.records import ArtifactCreate, TaskCreate
from tunehouse.store.s3_blob_storage import parse_location
from tunehouse.store.uploads import BlobUpload, PartETag, UploadCompletion

MIB = 1024 * 1024
PART = 5 * MIB


@pytest.fixture(scope="module")
def s3_server(s3: S3Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server storing blobs under a prefix of its own, parts of 5 MiB; users without a
    role see no project (so a stranger may read nothing)."""
    home = tmp_path_factory.mktemp("s3-server") / "home"
    home.mkdir()
    config = {**s3.settings(), "s3_part_mb": 5, "default_project_role": "none"}
    (home / "config.json").write_text(json.dumps(config))
    with running_server(home) as server:
        yield server


@pytest.fixture
def store(s3_server: ServerProcess) -> Iterator[HttpStore]:
    with s3_server.store() as opened:
        yield opened


def _file(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / f"blob-{size}.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _key(server: ServerProcess, sha256: str) -> str:
    config = json.loads((server.home / "config.json").read_text())
    _, prefix = parse_location(config["artifacts"])
    return f"{prefix}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _api(server: ServerProcess, key: str | None = None, secret: str | None = None
         ) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", timeout=60,
                        auth=(key or server.access_key, secret or server.secret_key))


def test_sdk_artifact_goes_to_the_bucket_in_parts_and_comes_back_by_redirect(
        s3_server: ServerProcess, store: HttpStore, s3: S3Target, tmp_path: Path) -> None:
    path, sha256 = _file(tmp_path, 2 * PART + 123)  # three parts
    plan = store.artifacts.plan_upload(BlobUpload(sha256=sha256, size=2 * PART + 123))
    assert plan.upload_id is not None and [p.size for p in plan.parts] == [PART, PART, 123]
    task = store.tasks.create_task(TaskCreate(project="s3-artifacts", name="weights"))
    upload(store, task.id, "weights", path)  # the SDK's upload_artifact
    [artifact] = store.artifacts.list_artifacts(task.id)
    assert (artifact.sha256, artifact.size) == (sha256, 2 * PART + 123)

    head = s3.client().head_object(Bucket=s3.bucket, Key=_key(s3_server, sha256))
    assert head["ContentLength"] == 2 * PART + 123 and head["ETag"].endswith('-3"')

    with _api(s3_server) as api:  # the UI's download link: a redirect to the bucket
        answer = api.get(f"/blobs/{sha256}")
        assert answer.status_code == 307
        assert answer.headers["location"].startswith(s3.endpoint)
    received = hashlib.sha256()
    for chunk in store.artifacts.open_blob(sha256):
        received.update(chunk)
    assert received.hexdigest() == sha256


def test_small_blob_goes_through_the_server(store: HttpStore, tmp_path: Path) -> None:
    path, sha256 = _file(tmp_path, PART - 1)
    plan = store.artifacts.plan_upload(BlobUpload(sha256=sha256, size=PART - 1))
    assert plan.upload_id is None and not plan.stored
    with open(path, "rb") as stream:
        blob = store.artifacts.put_blob(stream)
    assert blob.sha256 == sha256
    assert store.artifacts.plan_upload(BlobUpload(sha256=sha256, size=PART - 1)).stored


def test_unconfirmed_upload_leaves_nothing_and_a_rerun_finishes(
        store: HttpStore, tmp_path: Path) -> None:
    size = 2 * PART + 7
    path, sha256 = _file(tmp_path, size)
    plan = store.artifacts.plan_upload(BlobUpload(sha256=sha256, size=size))
    assert plan.upload_id is not None
    with open(path, "rb") as stream, httpx.Client(timeout=60) as direct:
        first = plan.parts[0]
        sent = direct.put(first.url, content=stream.read(first.size))  # then "killed"
        assert sent.status_code == 200
    with pytest.raises(NotFound):
        list(store.artifacts.open_blob(sha256))
    task = store.tasks.create_task(TaskCreate(project="s3-artifacts", name="killed"))
    with pytest.raises(NotFound):
        store.artifacts.add_artifact(task.id, ArtifactCreate(name="a", sha256=sha256, size=size))

    again = store.artifacts.plan_upload(BlobUpload(sha256=sha256, size=size))
    assert again.upload_id == plan.upload_id  # the interrupted upload is taken up
    assert again.parts[0].etag == sent.headers["etag"].strip('"')
    assert [p.etag for p in again.parts[1:]] == [None, None]
    with open(path, "rb") as stream:
        blob = store.artifacts.put_blob(stream)  # the rerun
    assert (blob.sha256, blob.size) == (sha256, size)
    assert b"".join(store.artifacts.open_blob(sha256)) == path.read_bytes()


KILLED_UPLOAD = """
import sys, time
from pathlib import Path
from tunehouse.client import blob_transfer
from tunehouse.client.http import HttpStore

url, key, secret, path, marker = sys.argv[1:]
blob_transfer.PARALLEL_PARTS = 1
send = blob_transfer._send_part

def send_then_hang(client, reader, part):
    etag = send(client, reader, part)
    if part.number == 2:
        Path(marker).write_text("two parts sent")
        time.sleep(600)  # killed here
    return etag

blob_transfer._send_part = send_then_hang
with HttpStore(url, key, secret) as store, open(path, "rb") as stream:
    store.artifacts.put_blob(stream)
"""


def test_killed_upload_leaves_nothing_and_a_rerun_finishes(
        s3_server: ServerProcess, store: HttpStore, tmp_path: Path) -> None:
    size = 4 * PART + 1
    path, sha256 = _file(tmp_path, size)
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_UPLOAD, s3_server.url,
                             s3_server.access_key, s3_server.secret_key, str(path),
                             str(marker)], env=clean_env(), stderr=subprocess.PIPE)
    try:
        wait_for_file(marker, 120, proc=proc)
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(NotFound):
        list(store.artifacts.open_blob(sha256))
    plan = store.artifacts.plan_upload(BlobUpload(sha256=sha256, size=size))
    assert [p.etag is not None for p in plan.parts] == [True, True, False, False, False]
    with open(path, "rb") as stream:
        assert store.artifacts.put_blob(stream).sha256 == sha256
    assert b"".join(store.artifacts.open_blob(sha256)) == path.read_bytes()


def test_completion_with_a_wrong_size_stores_nothing(
        s3_server: ServerProcess, store: HttpStore, tmp_path: Path) -> None:
    size = PART + 1
    path, sha256 = _file(tmp_path, size)
    plan = store.artifacts.plan_upload(BlobUpload(sha256=sha256, size=size + 1))
    assert plan.upload_id is not None
    etags = []
    with open(path, "rb") as stream, httpx.Client(timeout=60) as direct:
        for part in plan.parts:
            stream.seek(part.offset)
            answer = direct.put(part.url, content=stream.read(part.size))
            etags.append(PartETag(number=part.number, etag=answer.headers["etag"]))
    with pytest.raises(InvalidInput, match="hold 5242881 bytes, not the 5242882 declared"):
        store.artifacts.complete_upload(UploadCompletion(
            sha256=sha256, size=size + 1, upload_id=plan.upload_id, parts=etags))
    assert not store.artifacts.plan_upload(BlobUpload(sha256=sha256, size=size)).stored
    with pytest.raises(InvalidInput, match="numbered 1, 2, 3"):
        store.artifacts.complete_upload(UploadCompletion(
            sha256=sha256, size=size, upload_id=plan.upload_id, parts=etags[::-1]))
    with _api(s3_server) as api:
        bad = api.post("/blobs/uploads", json={"sha256": "x" * 64, "size": 1})
        assert bad.status_code == 422 and "sha256" in bad.text
        assert api.post("/blobs/uploads/complete", json={}).status_code == 422
        unknown = api.post("/blobs/uploads/complete", json={
            "sha256": sha256, "size": size, "upload_id": "nope",
            "parts": [{"number": 1, "etag": "x"}]})
        assert unknown.status_code == 404, unknown.text


def test_a_user_without_access_gets_no_blob_nor_url(
        s3_server: ServerProcess, store: HttpStore, tmp_path: Path) -> None:
    path, sha256 = _file(tmp_path, PART + 5)
    task = store.tasks.create_task(TaskCreate(project="s3-private", name="secret"))
    upload(store, task.id, "secret", path)
    with HttpAccounts(s3_server.url, s3_server.access_key, s3_server.secret_key) as admin:
        name = f"stranger-{os.urandom(3).hex()}"
        admin.users.create_user(name, "pw-stranger-123")
        key = admin.keys.create_api_key(name)
    with _api(s3_server, key.access_key, key.secret_key) as api:
        assert api.get(f"/blobs/{sha256}").status_code == 404
        assert api.get(f"/blobs/{sha256}/url").status_code == 404
        assert api.get(f"/tasks/{task.id}/artifacts").status_code in (403, 404)
    with HttpAccounts(s3_server.url, s3_server.access_key, s3_server.secret_key) as admin:
        admin.roles.grant_role("s3-private", name, "viewer")
    with _api(s3_server, key.access_key, key.secret_key) as api:
        assert api.get(f"/blobs/{sha256}").status_code == 307
        assert api.get(f"/blobs/{sha256}/url").json()["url"].startswith("http")
