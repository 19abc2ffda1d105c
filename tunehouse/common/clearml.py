"""Where a tunehouse server answers the clearml SDK, and the environment that makes the
SDK attach to a task of that server (``tunehouse agent`` sets it for the tasks the SDK
recorded, see docs/clearml.md)."""

from __future__ import annotations

#: Where the server mounts ClearML's API (``CLEARML_API_HOST`` is the server's URL + this).
API_MOUNT = "/clearml"
#: Where the server mounts ClearML's file server (``CLEARML_FILES_HOST``).
FILES_MOUNT = "/clearml-files"


def sdk_environment(server: str, access_key: str, secret_key: str,
                    task_id: str) -> dict[str, str]:
    """The variables under which the clearml SDK's ``Task.init`` attaches to task
    ``task_id`` of the tunehouse server at ``server`` ("running remotely": ``connect()``
    and argparse return the task's stored values), with the given API key."""
    base = server.rstrip("/")
    return {"CLEARML_TASK_ID": task_id, "CLEARML_API_HOST": base + API_MOUNT,
            "CLEARML_WEB_HOST": base, "CLEARML_FILES_HOST": base + FILES_MOUNT,
            "CLEARML_API_ACCESS_KEY": access_key, "CLEARML_API_SECRET_KEY": secret_key}
