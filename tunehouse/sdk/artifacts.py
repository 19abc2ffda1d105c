"""Turning ``upload_artifact`` objects into files to stream into the artifact store.

Files are uploaded as they are, folders as a zip, dicts/lists as JSON, NumPy arrays as
``.npy``, pandas DataFrames as gzipped CSV, strings that are not paths as text, anything
else pickled. Temporary files live in a temporary folder removed after the upload.
:func:`upload` and :func:`upload_bytes` stream into the store and register the artifact.
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunehouse.errors import InvalidInput
from tunehouse.store.base import Store
from tunehouse.store.records import ArtifactCreate


def upload(store: Store, task_id: str, name: str, artifact_object: Any,
           metadata: Mapping[str, Any] | None = None) -> None:
    """Stream ``artifact_object`` (see :func:`prepared`) into ``store`` and register it as
    artifact ``name`` of task ``task_id``; ``metadata`` is added to the prepared one."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("artifact name must be a non-empty str")
    with prepared(artifact_object, name) as item:
        with open(item.path, "rb") as stream:
            blob = store.artifacts.put_blob(stream)
        meta = dict(item.metadata)
        meta.update(metadata or {})
        store.artifacts.add_artifact(task_id, ArtifactCreate(
            name=name, kind=item.kind, sha256=blob.sha256, size=blob.size,
            content_type=item.content_type, metadata=meta))


def upload_bytes(store: Store, task_id: str, name: str, data: bytes, kind: str,
                 content_type: str, metadata: Mapping[str, Any] | None = None) -> None:
    """Store ``data`` and register it as artifact ``name`` of task ``task_id``."""
    blob = store.artifacts.put_blob(io.BytesIO(data))
    store.artifacts.add_artifact(task_id, ArtifactCreate(
        name=name, kind=kind, sha256=blob.sha256, size=blob.size,
        content_type=content_type, metadata=dict(metadata or {})))


@dataclass
class PreparedArtifact:
    """A file ready to stream, with how to describe it."""

    path: Path
    kind: str
    content_type: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _zip_folder(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())


@contextmanager
def prepared(obj: Any, name: str) -> Iterator[PreparedArtifact]:
    """The artifact file for ``obj`` (temporary files removed on exit)."""
    with tempfile.TemporaryDirectory(prefix="tunehouse-artifact-") as tmp:
        yield _prepare(obj, name, Path(tmp))


def _prepare(obj: Any, name: str, tmp: Path) -> PreparedArtifact:
    module = type(obj).__module__.split(".")[0]
    if isinstance(obj, (str, os.PathLike)) and _is_existing_path(obj):
        path = Path(obj).expanduser().resolve()
        if path.is_dir():
            target = tmp / f"{path.name or 'folder'}.zip"
            _zip_folder(path, target)
            return PreparedArtifact(target, "folder", "application/zip",
                                    {"source": str(path), "filename": target.name})
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return PreparedArtifact(path, "file", content_type,
                                {"source": str(path), "filename": path.name})
    if isinstance(obj, (dict, list, tuple)):
        target = tmp / f"{_safe(name)}.json"
        target.write_text(json.dumps(obj, indent=2, default=str))
        return PreparedArtifact(target, "json", "application/json", {"filename": target.name})
    if module == "numpy" and hasattr(obj, "shape") and hasattr(obj, "dtype"):
        import numpy

        target = tmp / f"{_safe(name)}.npy"
        numpy.save(target, obj, allow_pickle=False)
        return PreparedArtifact(target, "numpy", "application/octet-stream",
                                {"filename": target.name, "shape": list(obj.shape),
                                 "dtype": str(obj.dtype)})
    if module == "pandas" and hasattr(obj, "to_csv"):
        target = tmp / f"{_safe(name)}.csv.gz"
        obj.to_csv(target, compression="gzip")
        meta: dict[str, Any] = {"filename": target.name, "format": "csv.gz"}
        if hasattr(obj, "shape"):
            meta["shape"] = list(obj.shape)
        return PreparedArtifact(target, "pandas", "application/gzip", meta)
    if isinstance(obj, str):
        target = tmp / f"{_safe(name)}.txt"
        target.write_text(obj)
        return PreparedArtifact(target, "string", "text/plain", {"filename": target.name})
    target = tmp / f"{_safe(name)}.pkl"
    with open(target, "wb") as fh:
        pickle.dump(obj, fh)
    return PreparedArtifact(target, "pickle", "application/octet-stream",
                            {"filename": target.name, "type": type(obj).__name__})


def _is_existing_path(obj: str | os.PathLike[str]) -> bool:
    try:
        return Path(obj).expanduser().exists()
    except (OSError, ValueError):
        return False


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "artifact"
