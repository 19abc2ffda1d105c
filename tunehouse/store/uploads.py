"""Records of direct blob uploads and downloads: the client sends a large blob's bytes
straight to the object storage on URLs the server signs (presigned), the server only
plans, checks and completes the upload (docs/server.md, "Artifacts in S3").

The flow: :class:`BlobUpload` (the client declares sha256 and size) -> :class:`UploadPlan`
(already stored; or "send it through the server"; or an upload id and one presigned URL
per part) -> the client PUTs the parts -> :class:`UploadCompletion` (the parts' ETags) ->
the server completes the multipart upload, checks the size and answers the
:class:`~tunehouse.store.records.Blob`.
"""

from __future__ import annotations

from pydantic import Field

from tunehouse.store.records import Input, Record

SHA256_FIELD = Field(pattern=r"^[0-9a-f]{64}$")
#: S3's limits: at most 10,000 parts, each at least 5 MiB but the last.
MAX_PARTS = 10_000
#: S3's largest object (5 TiB).
MAX_BLOB_BYTES = 5 * 1024**4


class BlobUpload(Input):
    """A client's request to upload a blob it has hashed."""

    sha256: str = SHA256_FIELD
    size: int = Field(ge=0, le=MAX_BLOB_BYTES)


class UploadPart(Record):
    """One part of a planned upload: PUT its bytes (``size`` of them, from ``offset``) to
    ``url``. ``etag`` is set for a part an earlier, interrupted run already uploaded
    (S3's ETag of a part is the MD5 of its bytes: equal means it need not be sent again)."""

    number: int = Field(ge=1, le=MAX_PARTS)
    offset: int = Field(ge=0)
    size: int = Field(ge=0)
    url: str
    etag: str | None = None


class UploadPlan(Record):
    """The server's answer to a :class:`BlobUpload`.

    ``stored``: the blob is already there, nothing to send. Else without ``upload_id`` the
    blob goes through the server (``PUT /blobs``: local storage, or a blob smaller than one
    part); with it, the client PUTs each of ``parts`` and confirms with
    :class:`UploadCompletion`.
    """

    sha256: str
    size: int
    stored: bool = False
    upload_id: str | None = None
    parts: list[UploadPart] = Field(default_factory=list)


class PartETag(Input):
    """The ETag the storage answered for one uploaded part."""

    number: int = Field(ge=1, le=MAX_PARTS)
    etag: str = Field(min_length=1, max_length=200)


class UploadCompletion(Input):
    """The client's confirmation that every part of an upload was sent."""

    sha256: str = SHA256_FIELD
    size: int = Field(ge=0, le=MAX_BLOB_BYTES)
    upload_id: str = Field(min_length=1, max_length=1024)
    parts: list[PartETag] = Field(min_length=1, max_length=MAX_PARTS)


class BlobUrl(Record):
    """Where a blob's content can be read directly (a presigned GET URL, valid for a
    while), or None when only the server serves it (local storage)."""

    url: str | None = None
