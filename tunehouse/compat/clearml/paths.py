"""Paths of the ClearML file server: which task a file belongs to, and its artifact's
name (:mod:`.files` serves them, :mod:`.models` finds a model's weights by its URI)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from tunehouse.common.clearml import FILES_MOUNT
from tunehouse.compat.clearml.envelope import ApiError
from tunehouse.store.records import NAME_MAX

#: The artifact kind of a file uploaded to the ClearML file server.
FILE_KIND = "clearml-file"
_TASK_SEGMENT = re.compile(r"\.([0-9a-f]{32})$")
_PREFIX = "files/"


def artifact_name(path: str) -> tuple[str, str]:
    """``(task id, artifact name)`` of the file at ``path``; ApiError 400 when the path
    names no task or is too long."""
    clean = path.strip("/")
    for segment in clean.split("/"):
        match = _TASK_SEGMENT.search(segment)
        if match:
            name = _PREFIX + clean
            if len(name) > NAME_MAX:
                raise ApiError(400, f"file path too long for tunehouse ({len(name)} > "
                                    f"{NAME_MAX} characters): {clean[:80]}...")
            return match.group(1), name
    raise ApiError(400, f"tunehouse's file server keeps the files of tasks: the path "
                        f"{clean!r} must name one (a segment '<name>.<task id>')")


def file_path(uri: str) -> str | None:
    """The file server path a model's ``uri`` names (``<host>/clearml-files/<path>``),
    None for any other URI (``file://``, ``s3://``, another server...)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    prefix = FILES_MOUNT + "/"
    at = parts.path.find(prefix)
    if at < 0:
        return None
    return unquote(parts.path[at + len(prefix):]) or None
