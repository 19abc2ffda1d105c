"""Opening the blob storage a ``TUNEHOUSE_ARTIFACTS`` value names."""

from __future__ import annotations

from tunehouse.settings import Settings
from tunehouse.store.blob_storage import BlobStorage, LocalBlobStorage


def open_blob_storage(settings: Settings) -> BlobStorage:
    """The blob storage ``settings.artifacts`` names: ``s3://bucket/prefix`` (boto3,
    imported only then) or a directory."""
    if settings.artifacts.lower().startswith("s3://"):
        from tunehouse.store.s3_blob_storage import S3BlobStorage

        return S3BlobStorage.from_settings(settings)
    return LocalBlobStorage(settings.artifacts)
