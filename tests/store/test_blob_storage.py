"""The local content-addressed artifact store."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.blob_storage import CHUNK_SIZE, LocalBlobStorage


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


def test_put_open_round_trip(tmp_path: Path) -> None:
    store = LocalBlobStorage(tmp_path / "a")
    data = os.urandom(2 * CHUNK_SIZE + 5)
    blob = store.put(io.BytesIO(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    path = store.path_for(blob.sha256)
    assert path == tmp_path / "a" / blob.sha256[:2] / blob.sha256[2:4] / blob.sha256
    chunks = list(store.open(blob.sha256))
    assert b"".join(chunks) == data and max(len(c) for c in chunks) <= CHUNK_SIZE
    assert store.exists(blob.sha256) and store.stat(blob.sha256) == blob
    assert list((tmp_path / "a" / "incoming").iterdir()) == []


def test_put_streams_in_chunks(tmp_path: Path) -> None:
    store = LocalBlobStorage(tmp_path)
    stream = CountingStream(20 * CHUNK_SIZE)
    blob = store.put(stream)  # type: ignore[arg-type]
    assert stream.largest_read == CHUNK_SIZE
    assert blob.sha256 == stream.digest.hexdigest() and blob.size == 20 * CHUNK_SIZE


def test_same_content_is_stored_once_even_concurrently(tmp_path: Path) -> None:
    store = LocalBlobStorage(tmp_path)
    data = os.urandom(300_000)
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.put(io.BytesIO(data))))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.sha256 for r in results}) == 1
    assert b"".join(store.open(results[0].sha256)) == data
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1


def test_empty_blob(tmp_path: Path) -> None:
    store = LocalBlobStorage(tmp_path)
    blob = store.put(io.BytesIO(b""))
    assert blob.size == 0 and b"".join(store.open(blob.sha256)) == b""


def test_missing_blob_is_not_found(tmp_path: Path) -> None:
    store = LocalBlobStorage(tmp_path)
    sha = hashlib.sha256(b"nothing").hexdigest()
    assert not store.exists(sha)
    with pytest.raises(NotFound):
        store.open(sha)
    with pytest.raises(NotFound):
        store.stat(sha)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a" * 63, "A" * 64, "g" * 64,
                                 "0" * 64 + "/", "", "../" + "0" * 61])
def test_bad_sha_never_touches_a_path(tmp_path: Path, bad: str) -> None:
    store = LocalBlobStorage(tmp_path)
    for call in (store.open, store.stat, store.exists, store.path_for):
        with pytest.raises(InvalidInput):
            call(bad)


def test_failed_upload_leaves_nothing(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        calls = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("connection reset")
            return b"x" * 10

    store = LocalBlobStorage(tmp_path)
    with pytest.raises(OSError):
        store.put(Broken())  # type: ignore[arg-type]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
