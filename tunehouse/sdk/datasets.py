"""Input datasets of a task: what the task trained on, where it was and what it held.

:func:`add_input_dataset` (``Task.add_input_dataset``) describes a local file or folder (or
a remote URI, kept as given) and stores the description as a task artifact of kind
``input-dataset`` named ``dataset/<name>``: a small JSON manifest whose fields are also the
artifact's metadata. No schema of its own: it travels wherever artifacts do (the server,
the embedded store, an offline run and ``tunehouse sync``). :func:`input_datasets` reads
them back from a task's artifact list.

The fingerprint tells whether two runs saw the same data without reading large files:

* the files of the tree (a single file is a tree of one, named ``.``) are taken in the
  order of their relative POSIX paths; symbolic links to files are followed, links to
  folders are not descended, and what is not a regular file (FIFOs, sockets, devices) is
  left out;
* a file of at most :data:`SMALL_FILE_BYTES` (1 MiB) has its content hashed (SHA-256), as
  long as the content hashed so far plus its size stays within :data:`CONTENT_BUDGET_BYTES`
  (256 MiB); every other file (larger, or past the budget) is described by its size and
  its modification time in nanoseconds instead;
* the fingerprint is the SHA-256 of one JSON line per file, ``[path, size, "sha256",
  content digest]`` or ``[path, size, "mtime_ns", mtime]``, after a version line.

So editing a small file changes the fingerprint even when its size and modification time
are kept; copying a tree of small files elsewhere keeps it; touching a large file changes
it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any
from urllib.parse import unquote, urlparse

from tunehouse.errors import InvalidInput
from tunehouse.sdk import artifacts
from tunehouse.store.base import Store
from tunehouse.store.records import Artifact

#: Artifact kind of an input-dataset manifest.
DATASET_KIND = "input-dataset"
#: Artifact names of input datasets: ``dataset/<name>``.
DATASET_PREFIX = "dataset/"
#: Files up to this size have their content hashed (see the module docstring).
SMALL_FILE_BYTES = 1024 * 1024
#: At most this much content is hashed per dataset.
CONTENT_BUDGET_BYTES = 256 * 1024 * 1024
#: Names are artifact names less the prefix.
NAME_MAX = 255 - len(DATASET_PREFIX)

_FINGERPRINT_VERSION = b"tunehouse-dataset-fingerprint/1\n"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CHUNK = 1024 * 1024


def add_input_dataset(store: Store, task_id: str, path_or_uri: str | os.PathLike[str],
                      name: str | None = None) -> dict[str, Any]:
    """Describe a dataset and store it as artifact ``dataset/<name>`` of ``task_id``.

    Args:
        store: The store the task records into (for an offline run: its own store).
        task_id: The task that read the dataset.
        path_or_uri: A local file or folder (recorded as an absolute path; ``~`` is
            expanded, ``file://`` URIs are read as local paths), or a URI such as
            ``s3://bucket/train/`` or ``https://...``, recorded as given with size, file
            count and fingerprint unknown (``None``).
        name: The dataset's name (default: the last part of the path or URI). Recording a
            name again replaces that dataset.

    Returns:
        ``{"name", "path", "size", "files", "fingerprint", "recorded"}``: size in bytes,
        number of files, fingerprint (module docstring) and the recording time (ISO 8601,
        UTC).

    Raises:
        InvalidInput: the local path does not exist or cannot be read, or a bad name.
    """
    entry = describe(path_or_uri, name)
    manifest = {key: entry[key] for key in ("path", "size", "files", "fingerprint", "recorded")}
    data = json.dumps({"name": entry["name"], **manifest}, indent=2).encode()
    artifacts.upload_bytes(store, task_id, DATASET_PREFIX + entry["name"], data, DATASET_KIND,
                           "application/json", manifest)
    return entry


def describe(path_or_uri: str | os.PathLike[str], name: str | None = None) -> dict[str, Any]:
    """What :func:`add_input_dataset` records, without storing it."""
    if not isinstance(path_or_uri, (str, os.PathLike)):
        raise InvalidInput(f"a dataset is a path or a URI string, got {path_or_uri!r}")
    text = os.fspath(path_or_uri)
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"a dataset is a path or a URI string, got {path_or_uri!r}")
    recorded = datetime.now(UTC).isoformat()
    if _URI.match(text) and not text.lower().startswith("file://"):
        parsed = urlparse(text)
        default = parsed.path.rstrip("/").rsplit("/", 1)[-1] or parsed.netloc
        return {"name": _name(name, default), "path": text, "size": None, "files": None,
                "fingerprint": None, "recorded": recorded}
    local = Path(unquote(urlparse(text).path)) if _URI.match(text) else Path(text)
    local = Path(os.path.abspath(local.expanduser()))
    if not local.exists():
        raise InvalidInput(f"dataset path {str(local)!r} does not exist", detail=str(local))
    try:
        size, files, fingerprint = fingerprint_tree(local)
    except OSError as exc:
        raise InvalidInput(f"dataset path {str(local)!r} cannot be read: {exc}",
                           detail=str(local)) from exc
    return {"name": _name(name, local.name), "path": str(local), "size": size,
            "files": files, "fingerprint": fingerprint, "recorded": recorded}


def fingerprint_tree(path: Path) -> tuple[int, int, str]:
    """``(total size in bytes, number of files, fingerprint)`` of a file or folder, by the
    rule of the module docstring."""
    digest = hashlib.sha256(_FINGERPRINT_VERSION)
    total = files = hashed = 0
    for relative, file, stat in _files(path):
        total += stat.st_size
        files += 1
        if stat.st_size <= SMALL_FILE_BYTES and hashed + stat.st_size <= CONTENT_BUDGET_BYTES:
            hashed += stat.st_size
            entry: list[Any] = [relative, stat.st_size, "sha256", _content_digest(file)]
        else:
            entry = [relative, stat.st_size, "mtime_ns", stat.st_mtime_ns]
        digest.update(json.dumps(entry).encode() + b"\n")
    return total, files, digest.hexdigest()


def input_datasets(artifacts: list[Artifact]) -> list[dict[str, Any]]:
    """The input datasets among a task's artifacts, in the order given.

    Returns:
        One dict per ``input-dataset`` artifact: its metadata (``path``, ``size``,
        ``files``, ``fingerprint``, ``recorded``) and ``name`` (the artifact name without
        ``dataset/``).
    """
    found = []
    for artifact in artifacts:
        if artifact.kind != DATASET_KIND:
            continue
        name = artifact.name.removeprefix(DATASET_PREFIX)
        found.append({**artifact.metadata, "name": name})
    return found


def _name(name: str | None, default: str) -> str:
    if name is None:
        name = default or "dataset"
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"a dataset name must be a non-empty string, got {name!r}")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"a dataset name has at most {NAME_MAX} characters: {name[:40]!r}...")
    return name


def _files(root: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """``(relative POSIX path, path, stat)`` of every file, sorted by relative path;
    entries that vanish or dangle while walking are left out."""
    if not root.is_dir():
        stat = root.stat()
        if S_ISREG(stat.st_mode):
            yield ".", root, stat
        return
    found: list[tuple[str, Path]] = []
    for folder, _dirs, names in os.walk(root, onerror=_raise):
        for name in names:
            file = Path(folder) / name
            found.append((file.relative_to(root).as_posix(), file))
    for relative, file in sorted(found):
        try:
            stat = file.stat()
        except FileNotFoundError:
            continue
        if S_ISREG(stat.st_mode):  # not FIFOs, sockets or devices: reading could block
            yield relative, file, stat


def _raise(error: OSError) -> None:
    raise error


def _content_digest(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
