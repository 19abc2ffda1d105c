"""Opening the blob storage a ``TUNEHOUSE_ARTIFACTS`` value names."""

from __future__ import annotations

from tunehouse.errors import InvalidInput
from tunehouse.settings import Settings
from tunehouse.store.blob_storage import BlobStorage, LocalBlobStorage


def open_blob_storage(settings: Settings) -> BlobStorage:
    """The blob storage ``settings.artifacts`` names: ``s3://bucket/prefix`` (boto3,
    imported only then) or a directory."""
    if settings.artifacts.lower().startswith("s3://"):
        try:
            from tunehouse.store.s3_blob_storage import S3BlobStorage
        except ModuleNotFoundError as exc:
            if exc.name not in ("boto3", "botocore"):
                raise
            raise InvalidInput(f"TUNEHOUSE_ARTIFACTS={settings.artifacts} needs boto3: "
                               "pip install 'tunehouse[s3]'") from None
        return S3BlobStorage.from_settings(settings)
    return LocalBlobStorage(settings.artifacts)
