"""``tunehouse artifacts gc`` and ``migrate``, and a deleted task's blobs, on a local
directory and on S3 (moto's server, or the store of ``TUNEHOUSE_TEST_S3``)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.s3 import S3Target
from tests.helpers.server import clean_env
from tunehouse.settings import Settings
from tunehouse.store.blob_location import open_blob_storage
from tunehouse.store.blob_storage import BlobStorage, LocalBlobStorage
from tunehouse.store.records import ArtifactCreate, ModelCreate, TaskCreate
from tunehouse.store.sql import SqlStore


def _env(home: Path, db_url: str, backend: str, s3: S3Target | None) -> dict[str, str]:
    env = clean_env(TUNEHOUSE_HOME=str(home), TUNEHOUSE_DB=db_url)
    if backend == "s3":
        assert s3 is not None
        env.update(s3.env())
    return env


@pytest.fixture(params=["local", "s3"])
def env(request: pytest.FixtureRequest, tmp_path: Path, sqlite_schema_url: str
        ) -> dict[str, str]:
    s3 = request.getfixturevalue("s3") if request.param == "s3" else None
    return _env(tmp_path / "home", sqlite_schema_url, request.param, s3)


def _store(env: dict[str, str]) -> SqlStore:
    return SqlStore.from_settings(Settings.from_env(env=env), user="alice")


def _put(store: SqlStore, data: bytes) -> str:
    return store.artifacts.put_blob(io.BytesIO(data)).sha256


def _artifact(store: SqlStore, task_id: str, name: str, data: bytes) -> str:
    sha256 = _put(store, data)
    store.artifacts.add_artifact(task_id, ArtifactCreate(name=name, sha256=sha256,
                                                         size=len(data)))
    return sha256


def _blobs(store: SqlStore) -> set[str]:
    return {blob.sha256 for blob in store.db.blobs.list_blobs()}


def test_gc_lists_by_default_and_removes_with_yes(env: dict[str, str]) -> None:
    with _store(env) as store:
        task = store.tasks.create_task(TaskCreate(project="gc", name="t"))
        kept = _artifact(store, task.id, "kept", b"kept by an artifact")
        weights = _put(store, b"kept by a model")
        store.models.create_model(ModelCreate(name="m", sha256=weights, size=15))
        orphan = _put(store, b"nothing refers to me")

        young = run_cli("artifacts", "gc", env=env, ok=True)
        assert orphan not in young.stdout and "kept 1 unreferenced blobs younger than 24 h" in young.stdout
        dry = run_cli("artifacts", "gc", "--min-age-hours", "0", env=env, ok=True)
        assert f"unreferenced {orphan} 20" in dry.stdout and "run again with --yes" in dry.stdout
        assert kept not in dry.stdout and weights not in dry.stdout
        assert _blobs(store) == {kept, weights, orphan}

        done = run_cli("artifacts", "gc", "--min-age-hours", "0", "--yes", env=env, ok=True)
        assert f"removed {orphan} 20" in done.stdout and "removed 1 blobs" in done.stdout
        assert _blobs(store) == {kept, weights}
        assert run_cli("artifacts", "gc", "--min-age-hours", "-1", env=env).returncode == 2


def test_deleting_a_task_removes_the_blobs_nothing_else_refers_to(env: dict[str, str]) -> None:
    with _store(env) as store:
        first = store.tasks.create_task(TaskCreate(project="delete", name="first"))
        second = store.tasks.create_task(TaskCreate(project="delete", name="second"))
        own = _artifact(store, first.id, "own", b"only the first task's")
        shared = _artifact(store, first.id, "shared", b"both tasks'")
        _artifact(store, second.id, "shared too", b"both tasks'")
        weights = _artifact(store, first.id, "weights", b"also a model's")
        store.models.create_model(ModelCreate(name="m", sha256=weights, size=14))

        store.tasks.delete_task(first.id)
        assert _blobs(store) == {shared, weights}
        assert own not in _blobs(store)
        store.tasks.delete_task(second.id)
        assert _blobs(store) == {weights}


def test_migrate_to_s3_resumes_and_checks_hashes(
        tmp_path: Path, sqlite_schema_url: str, s3: S3Target) -> None:
    env = _env(tmp_path / "home", sqlite_schema_url, "local", None)
    contents = [os.urandom(1000 + n) for n in range(3)] + [os.urandom(9 * 1024 * 1024)]
    with _store(env) as store:
        shas = [_put(store, data) for data in contents]
    local = LocalBlobStorage(Settings.from_env(env=env).artifacts)
    location = s3.location()
    target = open_blob_storage(Settings.from_env(env={**env, **s3.env(location)}))
    target.put(io.BytesIO(contents[0]))  # a run interrupted after the first blob
    corrupt = local.path_for(shas[1])
    corrupt.write_bytes(b"flipped bits")  # the source's copy went bad

    migrate_env = {**env, **{k: v for k, v in s3.env(location).items()
                             if k != "TUNEHOUSE_ARTIFACTS"}}
    first = run_cli("artifacts", "migrate", "--to", location, env=migrate_env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert f"corrupt {shas[1]}" in first.stderr
    assert "2 blobs copied" in first.stdout and "1 already there" in first.stdout
    assert _contents(target, shas[2]) == contents[2]
    assert _contents(target, shas[3]) == contents[3]
    assert not target.exists(shas[1])

    corrupt.write_bytes(contents[1])  # restored from a backup
    again = run_cli("artifacts", "migrate", "--to", location, env=migrate_env, ok=True)
    assert "1 blobs copied" in again.stdout and "3 already there" in again.stdout
    assert f"TUNEHOUSE_ARTIFACTS={location}" in again.stdout
    assert {b.sha256 for b in target.list_blobs()} >= set(shas)
    assert local.exists(shas[0])  # the source is left as it was
    same = run_cli("artifacts", "migrate", "--to", str(local.root), env=env)
    assert same.returncode == 2 and "already in" in same.stderr


def _contents(storage: BlobStorage, sha256: str) -> bytes:
    data = b"".join(storage.open(sha256))
    assert hashlib.sha256(data).hexdigest() == sha256
    return data
