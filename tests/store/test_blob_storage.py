"""The blob storage contract, on a local directory and on S3 (moto's server, or the store
of ``TUNEHOUSE_TEST_S3``), and what is particular to each."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.s3 import S3Target
from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.blob_storage import CHUNK_SIZE, BlobStorage, LocalBlobStorage
from tunehouse.store.s3_blob_storage import STREAM_PART_BYTES, S3BlobStorage, parse_location

PART = 5 * 1024 * 1024


class CountingStream(io.RawIOBase):
    """A stream of ``size`` pseudo-random bytes that records the largest read asked of it."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.largest_read = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.largest_read = max(self.largest_read, n)
        n = self.remaining if n < 0 else min(n, self.remaining)
        data = os.urandom(n)
        self.digest.update(data)
        self.remaining -= n
        return data


def s3_storage(s3: S3Target, location: str | None = None) -> S3BlobStorage:
    return S3BlobStorage(location or s3.location(), endpoint_url=s3.endpoint,
                         region=s3.region, access_key_id=s3.access_key,
                         secret_access_key=s3.secret_key, part_bytes=PART)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStorage:
    if request.param == "local":
        return LocalBlobStorage(tmp_path / "blobs")
    return s3_storage(request.getfixturevalue("s3"))


def test_put_open_round_trip(storage: BlobStorage) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 5)
    blob = storage.put(io.BytesIO(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    chunks = list(storage.open(blob.sha256))
    assert b"".join(chunks) == data and max(len(c) for c in chunks) <= CHUNK_SIZE
    assert storage.exists(blob.sha256) and storage.stat(blob.sha256) == blob
    assert [(b.sha256, b.size) for b in storage.list_blobs()] == [(blob.sha256, blob.size)]


def test_put_streams_in_chunks(storage: BlobStorage) -> None:
    size = 2 * STREAM_PART_BYTES + 1  # larger than the server's S3 part: a multipart upload
    stream = CountingStream(size)
    blob = storage.put(stream)  # type: ignore[arg-type]
    local = isinstance(storage, LocalBlobStorage)
    assert stream.largest_read == (CHUNK_SIZE if local else STREAM_PART_BYTES)
    assert blob.sha256 == stream.digest.hexdigest() and blob.size == size
    assert storage.stat(blob.sha256).size == size


def test_same_content_is_stored_once_even_concurrently(storage: BlobStorage) -> None:
    data = os.urandom(300_000)
    results = []
    threads = [threading.Thread(target=lambda: results.append(storage.put(io.BytesIO(data))))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.sha256 for r in results}) == 1
    assert b"".join(storage.open(results[0].sha256)) == data
    assert [b.sha256 for b in storage.list_blobs()] == [results[0].sha256]


def test_empty_blob(storage: BlobStorage) -> None:
    blob = storage.put(io.BytesIO(b""))
    assert blob.size == 0 and b"".join(storage.open(blob.sha256)) == b""


def test_missing_blob_is_not_found(storage: BlobStorage) -> None:
    sha = hashlib.sha256(b"nothing").hexdigest()
    assert not storage.exists(sha)
    for call in (storage.open, storage.stat, storage.download_url):
        with pytest.raises(NotFound):
            call(sha)
    storage.delete(sha)  # nothing to remove: no error


def test_delete_removes_the_blob(storage: BlobStorage) -> None:
    kept = storage.put(io.BytesIO(b"kept"))
    gone = storage.put(io.BytesIO(b"gone"))
    before = time.time()
    storage.delete(gone.sha256)
    assert not storage.exists(gone.sha256) and storage.exists(kept.sha256)
    listed = list(storage.list_blobs())
    assert [b.sha256 for b in listed] == [kept.sha256]
    assert abs(listed[0].modified - before) < 300


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a" * 63, "A" * 64, "g" * 64,
                                 "0" * 64 + "/", "", "../" + "0" * 61])
def test_bad_sha_never_touches_a_path(storage: BlobStorage, bad: str) -> None:
    for call in (storage.open, storage.stat, storage.exists, storage.delete):
        with pytest.raises(InvalidInput):
            call(bad)


def test_failed_upload_leaves_nothing(storage: BlobStorage, tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        calls = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("connection reset")
            return b"x" * 10

    with pytest.raises(OSError):
        storage.put(Broken())  # type: ignore[arg-type]
    assert list(storage.list_blobs()) == []
    if isinstance(storage, LocalBlobStorage):
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# ------------------------------------------------------------------ local only
def test_local_layout(tmp_path: Path) -> None:
    store = LocalBlobStorage(tmp_path / "a")
    blob = store.put(io.BytesIO(b"layout"))
    path = store.path_for(blob.sha256)
    assert path == tmp_path / "a" / blob.sha256[:2] / blob.sha256[2:4] / blob.sha256
    assert list((tmp_path / "a" / "incoming").iterdir()) == []
    assert store.download_url(blob.sha256) is None
    plan = store.plan_upload(blob.sha256, blob.size)
    assert plan.stored and plan.upload_id is None


# --------------------------------------------------------------------- S3 only
def test_s3_layout_and_no_staging_left(s3: S3Target) -> None:
    location = s3.location()
    storage = s3_storage(s3, location)
    blob = storage.put(io.BytesIO(b"layout"))
    _, prefix = parse_location(location)
    keys = [o["Key"] for o in s3.client().list_objects_v2(
        Bucket=s3.bucket, Prefix=prefix + "/").get("Contents", [])]
    assert keys == [f"{prefix}/{blob.sha256[:2]}/{blob.sha256[2:4]}/{blob.sha256}"]
    assert "testing" not in repr(storage) and s3.secret_key not in repr(storage)


def test_s3_location_needs_a_bucket() -> None:
    assert parse_location("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_location("s3://bucket") == ("bucket", "")
    with pytest.raises(InvalidInput, match="names no bucket"):
        parse_location("s3:///prefix")


def test_boto3_is_imported_only_for_s3(tmp_path: Path) -> None:
    """The SDK's import path (embedded store on a directory, HTTP store) stays without
    boto3; an ``s3://`` location imports it."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from tunehouse import Task\n"
        "from tunehouse.client.http import HttpStore\n"
        "from tunehouse.settings import Settings\n"
        "from tunehouse.store.sql import SqlStore\n"
        f"SqlStore.from_settings(Settings.from_env(env={{}}, home={str(tmp_path)!r})).close()\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules\n"
        "from tunehouse.store.blob_location import open_blob_storage\n"
        "open_blob_storage(Settings.from_env(env={'TUNEHOUSE_ARTIFACTS': 's3://b/p'}, "
        f"home={str(tmp_path)!r}))\n"
        "assert 'boto3' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_s3_settings_keep_the_secret_out_of_reprs_and_go_in_pairs(tmp_path: Path) -> None:
    from tunehouse.settings import Settings

    env = {"TUNEHOUSE_ARTIFACTS": "s3://bucket/prefix/", "TUNEHOUSE_S3_ACCESS_KEY_ID": "AK",
           "TUNEHOUSE_S3_SECRET_ACCESS_KEY": "very-secret", "TUNEHOUSE_S3_PART_MB": "16"}
    settings = Settings.from_env(env=env, home=tmp_path)
    assert settings.artifacts == "s3://bucket/prefix" and settings.s3_part_mb == 16
    assert "very-secret" not in repr(settings)
    with pytest.raises(InvalidInput, match="go together"):
        Settings.from_env(env={**env, "TUNEHOUSE_S3_SECRET_ACCESS_KEY": ""}, home=tmp_path)
    with pytest.raises(InvalidInput, match="at least 5"):
        Settings.from_env(env={**env, "TUNEHOUSE_S3_PART_MB": "4"}, home=tmp_path)
