"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), through boto3.

A blob is the object ``<prefix>/ab/cd/<sha256>``, the local layout. Two ways in:

* :meth:`S3BlobStorage.put` (a stream the server or an embedded store receives): hashed
  while it is uploaded in parts to ``<prefix>/incoming/<random>``, then copied inside the
  bucket to its address and the staging object removed, so no reader sees a partial blob
  (a stream shorter than one part is hashed first and stored with one request);
* direct uploads (:meth:`S3BlobStorage.plan_upload`, :meth:`S3BlobStorage.complete_upload`):
  a multipart upload to the blob's address whose parts the client PUTs on presigned URLs;
  nothing is visible before the server completes it, and an interrupted upload is found
  again by the next plan for the same blob, which marks the parts already there.

boto3 is imported when this module is, and only
:func:`~tunehouse.store.blob_location.open_blob_storage` imports it, for an ``s3://``
location. Credentials come from the
settings or, when none are given, from AWS's standard chain (environment, profile,
instance role); the secret is handed to boto3 and kept nowhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tunehouse.errors import InvalidInput, NotFound, StorageUnavailable
from tunehouse.settings import Settings
from tunehouse.store.blob_storage import (
    CHUNK_SIZE,
    BlobStorage,
    StoredBlob,
    validate_sha256,
)
from tunehouse.store.records import Blob
from tunehouse.store.uploads import MAX_PARTS, UploadCompletion, UploadPart, UploadPlan

#: Part size of the streams the server (or an embedded store) uploads itself.
STREAM_PART_BYTES = 8 * 1024 * 1024
#: Parts of such a stream in flight at once (each held in memory while it is sent).
STREAM_PARALLEL = 4
#: How long a presigned URL is valid.
PRESIGN_EXPIRES_S = 3600
_MISSING = {"404", "NoSuchKey", "NotFound"}
_BLOB_KEY = re.compile(r"(?:^|/)([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$")
R = TypeVar("R")


def parse_location(location: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (the prefix may be empty)."""
    if not location.lower().startswith("s3://"):
        raise InvalidInput(f"not an s3:// location: {location!r}")
    bucket, _, prefix = location[5:].partition("/")
    if not bucket:
        raise InvalidInput(f"TUNEHOUSE_ARTIFACTS={location!r} names no bucket "
                           "(expected s3://BUCKET/PREFIX)")
    return bucket, prefix.strip("/")


def part_size_for(size: int, part_bytes: int) -> int:
    """The part size of a multipart upload of ``size`` bytes: ``part_bytes``, or more when
    S3's 10,000 parts would not hold it."""
    least = -(-size // MAX_PARTS)
    return max(part_bytes, least)


def _call(what: str, call: Callable[[], R]) -> R:
    """``call()``, its S3 failures as tunehouse errors (404 -> NotFound, else 503 naming
    ``what`` and S3's code)."""
    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING:
            raise NotFound(f"{what}: not found") from None
        if code == "NoSuchUpload":
            raise NotFound(f"{what}: no such upload (completed, aborted or never started)"
                           ) from None
        if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
            raise InvalidInput(f"{what}: {code}: {error.get('Message', '')}") from None
        raise StorageUnavailable(f"{what}: the object storage refused ({code}: "
                                 f"{error.get('Message', '')})") from None
    except BotoCoreError as exc:
        raise StorageUnavailable(f"{what}: cannot reach the object storage: {exc}") from None


class _HashingReader(io.RawIOBase):
    """A non-seekable reader over ``stream`` that hashes and counts what is read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, fewer only at the end (boto3 takes a short read for the
        end of the stream)."""
        want = CHUNK_SIZE if size is None or size < 0 else size
        pieces = []
        got = 0
        while got < want:
            data = self._stream.read(want - got)
            if not data:
                break
            pieces.append(data)
            got += len(data)
        data = b"".join(pieces)
        self.digest.update(data)
        self.size += len(data)
        return data


class S3BlobStorage(BlobStorage):
    """Blobs as objects of ``bucket`` under ``prefix``.

    Args:
        location: ``s3://bucket/prefix``.
        endpoint_url: The S3-compatible endpoint (None: AWS).
        region: The bucket's region (None: AWS's configuration).
        access_key_id, secret_access_key: Both or neither (AWS's credential chain).
        part_bytes: Part size of multipart uploads; blobs smaller go through the server.
    """

    def __init__(self, location: str, *, endpoint_url: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None,
                 part_bytes: int = 64 * 1024 * 1024) -> None:
        self.location = location
        self.bucket, self.prefix = parse_location(location)
        self.part_bytes = part_bytes
        session = boto3.session.Session(aws_access_key_id=access_key_id,
                                        aws_secret_access_key=secret_access_key,
                                        region_name=region)
        config = Config(signature_version="s3v4", retries={"mode": "standard"},
                        max_pool_connections=32,
                        s3={"addressing_style": "path" if endpoint_url else "auto"})
        self._s3: Any = session.client("s3", endpoint_url=endpoint_url, config=config)
        # copies inside the bucket (staging key -> address)
        self._transfer = TransferConfig(multipart_chunksize=STREAM_PART_BYTES,
                                        multipart_threshold=STREAM_PART_BYTES,
                                        max_concurrency=STREAM_PARALLEL)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStorage:
        """The storage of ``settings.artifacts`` with the ``s3_*`` settings."""
        return cls(settings.artifacts, endpoint_url=settings.s3_endpoint_url,
                   region=settings.s3_region, access_key_id=settings.s3_access_key_id,
                   secret_access_key=settings.s3_secret_access_key,
                   part_bytes=settings.s3_part_mb * 1024 * 1024)

    def __repr__(self) -> str:
        return f"S3BlobStorage({self.location!r})"

    def key_for(self, sha256: str) -> str:
        """The object key of the blob with this (validated) sha256."""
        validate_sha256(sha256)
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _staging_key(self) -> str:
        name = f"incoming/{uuid.uuid4().hex}"
        return f"{self.prefix}/{name}" if self.prefix else name

    # ------------------------------------------------------------------ the contract
    def put(self, stream: BinaryIO) -> Blob:
        """Stream into the bucket, reading ``stream`` in this thread only (the server's
        request stream can be read from its worker thread alone): a blob of less than one
        part in one request, a larger one as a multipart upload to a staging key (at most
        :data:`STREAM_PARALLEL` parts in flight) copied to its address once hashed."""
        reader = _HashingReader(stream)
        first = reader.read(STREAM_PART_BYTES)
        if len(first) < STREAM_PART_BYTES:
            sha256 = reader.digest.hexdigest()
            if not self.exists(sha256):
                _call(f"store blob {sha256}", lambda: self._s3.put_object(
                    Bucket=self.bucket, Key=self.key_for(sha256), Body=first))
            return Blob(sha256=sha256, size=len(first))
        staging = self._staging_key()
        try:
            self._upload_parts(staging, first, reader)
            sha256 = reader.digest.hexdigest()
            if not self.exists(sha256):
                _call(f"store blob {sha256}", lambda: self._s3.copy(
                    {"Bucket": self.bucket, "Key": staging}, self.bucket,
                    self.key_for(sha256), Config=self._transfer))
        finally:
            # a staging object left behind is removed by `tunehouse artifacts gc`
            with contextlib.suppress(ClientError, BotoCoreError):
                self._s3.delete_object(Bucket=self.bucket, Key=staging)
        return Blob(sha256=sha256, size=reader.size)

    def _upload_parts(self, key: str, first: bytes, reader: _HashingReader) -> None:
        created = _call("start an upload", lambda: self._s3.create_multipart_upload(
            Bucket=self.bucket, Key=key))
        upload_id = created["UploadId"]

        def send(number: int, data: bytes) -> dict[str, Any]:
            answer = _call(f"upload part {number}", lambda: self._s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                Body=data))
            return {"PartNumber": number, "ETag": answer["ETag"]}

        try:
            parts: list[dict[str, Any]] = []
            with ThreadPoolExecutor(STREAM_PARALLEL) as pool:
                pending: deque[Future[dict[str, Any]]] = deque()
                number, data = 1, first
                while data:
                    if len(pending) >= STREAM_PARALLEL:
                        parts.append(pending.popleft().result())
                    pending.append(pool.submit(send, number, data))
                    number, data = number + 1, reader.read(STREAM_PART_BYTES)
                parts.extend(future.result() for future in pending)
            _call("complete an upload", lambda: self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts}))
        except BaseException:
            self._abort(key, upload_id)
            raise

    def open(self, sha256: str) -> Iterator[bytes]:
        key = self.key_for(sha256)
        try:
            response = _call(f"blob {sha256}",
                             lambda: self._s3.get_object(Bucket=self.bucket, Key=key))
        except NotFound:
            raise NotFound(f"blob {sha256} not found") from None
        return _body_chunks(response["Body"])

    def stat(self, sha256: str) -> Blob:
        key = self.key_for(sha256)
        try:
            head = _call(f"blob {sha256}",
                         lambda: self._s3.head_object(Bucket=self.bucket, Key=key))
        except NotFound:
            raise NotFound(f"blob {sha256} not found") from None
        return Blob(sha256=sha256, size=int(head["ContentLength"]))

    def delete(self, sha256: str) -> None:
        key = self.key_for(sha256)
        _call(f"delete blob {sha256}", lambda: self._s3.delete_object(Bucket=self.bucket, Key=key))

    def list_blobs(self) -> Iterator[StoredBlob]:
        for item in self._objects(self.prefix + "/" if self.prefix else ""):
            found = _BLOB_KEY.search(item["Key"])
            if found is None or item["Key"] != self.key_for(found.group(3)):
                continue
            sha256 = found.group(3)
            if sha256[:2] != found.group(1) or sha256[2:4] != found.group(2):
                continue
            yield StoredBlob(sha256=sha256, size=int(item["Size"]),
                             modified=item["LastModified"].timestamp())

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                  Prefix=prefix)
        try:
            for page in pages:
                yield from page.get("Contents", [])
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"cannot list {self.location}: {exc}") from None

    # ------------------------------------------------------------ direct transfers
    def download_url(self, sha256: str) -> str | None:
        self.stat(sha256)
        return str(self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.key_for(sha256)},
            ExpiresIn=PRESIGN_EXPIRES_S))

    def plan_upload(self, sha256: str, size: int) -> UploadPlan:
        key = self.key_for(sha256)
        if self.exists(sha256):
            return UploadPlan(sha256=sha256, size=size, stored=True)
        if size < self.part_bytes:
            return UploadPlan(sha256=sha256, size=size)  # small: through the server
        upload_id, done = self._open_upload(key)
        part = part_size_for(size, self.part_bytes)
        parts = []
        for index, offset in enumerate(range(0, size, part)):
            number, length = index + 1, min(part, size - offset)
            url = self._s3.generate_presigned_url(
                "upload_part", Params={"Bucket": self.bucket, "Key": key,
                                       "UploadId": upload_id, "PartNumber": number},
                ExpiresIn=PRESIGN_EXPIRES_S)
            previous = done.get(number)
            etag = previous[0] if previous and previous[1] == length else None
            parts.append(UploadPart(number=number, offset=offset, size=length, url=url,
                                    etag=etag))
        return UploadPlan(sha256=sha256, size=size, upload_id=upload_id, parts=parts)

    def _open_upload(self, key: str) -> tuple[str, dict[int, tuple[str, int]]]:
        """The newest unfinished multipart upload of ``key`` (a run that was interrupted)
        and its parts by number (ETag, size), else a new upload."""
        listing = _call("list uploads", lambda: self._s3.list_multipart_uploads(
            Bucket=self.bucket, Prefix=key))
        uploads = sorted((u for u in listing.get("Uploads", []) if u["Key"] == key),
                         key=lambda u: u["Initiated"])
        if uploads:
            upload_id = uploads[-1]["UploadId"]
            return upload_id, self._parts(key, upload_id, "list parts")
        created = _call("start an upload", lambda: self._s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType="application/octet-stream"))
        return str(created["UploadId"]), {}

    def _parts(self, key: str, upload_id: str, what: str) -> dict[int, tuple[str, int]]:
        """The uploaded parts of an upload by number: (ETag without quotes, size)."""
        def listing() -> dict[int, tuple[str, int]]:
            pages = self._s3.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id)
            return {p["PartNumber"]: (p["ETag"].strip('"'), int(p["Size"]))
                    for page in pages for p in page.get("Parts", [])}

        return _call(what, listing)

    def complete_upload(self, done: UploadCompletion) -> Blob:
        key = self.key_for(done.sha256)
        numbers = [p.number for p in done.parts]
        if numbers != list(range(1, len(numbers) + 1)):
            raise InvalidInput("the parts of an upload must be numbered 1, 2, 3, ... in order")
        if self.exists(done.sha256):  # stored meanwhile (another upload of the same content)
            self._abort(key, done.upload_id)
            return self._checked(done)
        what = f"the upload of blob {done.sha256}"
        sizes = self._parts(key, done.upload_id, what)
        for part in done.parts:
            if sizes.get(part.number, ("", 0))[0] != part.etag.strip('"'):
                raise InvalidInput(f"{what}: part {part.number} was not uploaded, or not "
                                   "with that ETag")
        total = sum(sizes[p.number][1] for p in done.parts)
        if total != done.size:
            raise InvalidInput(f"{what}: the parts hold {total} bytes, not the {done.size} "
                               "declared; nothing was stored")
        _call(f"complete {what}",
              lambda: self._s3.complete_multipart_upload(
                  Bucket=self.bucket, Key=key, UploadId=done.upload_id,
                  MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag}
                                             for p in done.parts]}))
        return self._checked(done, remove_if_wrong=True)

    def _checked(self, done: UploadCompletion, remove_if_wrong: bool = False) -> Blob:
        stored = self.stat(done.sha256)
        if stored.size != done.size:
            if remove_if_wrong:
                self.delete(done.sha256)
            raise InvalidInput(f"blob {done.sha256}: the upload holds {stored.size} bytes, "
                               f"not the {done.size} declared; nothing was stored")
        return stored

    def _abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(ClientError):  # already gone
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def abort_stale_uploads(self, older_than: float) -> int:
        """Abort the multipart uploads started before ``older_than`` (seconds since the
        epoch) and remove staging objects as old; answers how many."""
        removed = 0
        paginator = self._s3.get_paginator("list_multipart_uploads")
        prefix = self.prefix + "/" if self.prefix else ""
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() < older_than:
                        self._abort(upload["Key"], upload["UploadId"])
                        removed += 1
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"cannot list the uploads of {self.location}: {exc}"
                                     ) from None
        for item in self._objects(prefix + "incoming/"):
            if item["LastModified"].timestamp() < older_than:
                self._s3.delete_object(Bucket=self.bucket, Key=item["Key"])
                removed += 1
        return removed


def _body_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    except (ClientError, BotoCoreError) as exc:
        raise StorageUnavailable(f"reading from the object storage failed: {exc}") from None
    finally:
        body.close()
