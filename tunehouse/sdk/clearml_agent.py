"""Running under ``clearml-agent``: a task recorded by tunehouse's SDK, cloned and queued,
is pulled and run by ClearML's agent against tunehouse's ClearML API. That agent sets
``CLEARML_TASK_ID`` (and passes on its ``CLEARML_API_HOST`` and keys), not tunehouse's
variables; this module turns them into the settings of a tunehouse agent's run.

``CLEARML_API_HOST`` must be a tunehouse server's ClearML API (``<server>/clearml``): the
server is its base URL. The agent's key is an agent account's, so the run acts as the
task's owner within the attempt the agent claimed (``X-Tunehouse-User`` with the
attempt's fence), as under tunehouse's own agent; the agent streams the console and sets
the final status from the exit code, so the run does neither.

Only the environment is read: ``clearml-agent`` must get the three ``CLEARML_API_*``
variables (not only a ``clearml.conf``), as docs/clearml.md says.
"""

from __future__ import annotations

from collections.abc import Mapping

from tunehouse.errors import InvalidInput
from tunehouse.settings import Settings, normalize_server_url

#: Where tunehouse serves ClearML's API below its base URL.
CLEARML_API_PATH = "/clearml"


def clearml_agent_settings(settings: Settings, env: Mapping[str, str]) -> Settings:
    """``settings`` for a run ``clearml-agent`` launched (``env`` names a task and a
    tunehouse server's ClearML API, and no tunehouse task is set); unchanged otherwise.

    Raises:
        InvalidInput: the ClearML variables are incomplete.
    """
    task_id = (env.get("CLEARML_TASK_ID") or "").strip()
    host = (env.get("CLEARML_API_HOST") or "").strip().rstrip("/")
    if settings.task_id or not task_id or not host.endswith(CLEARML_API_PATH):
        return settings
    access_key = env.get("CLEARML_API_ACCESS_KEY")
    secret_key = env.get("CLEARML_API_SECRET_KEY")
    if not access_key or not secret_key:
        raise InvalidInput("clearml-agent runs this task (CLEARML_TASK_ID is set) but "
                           "CLEARML_API_ACCESS_KEY / CLEARML_API_SECRET_KEY are not: give "
                           "the agent its key in these variables")
    server = normalize_server_url(host[: -len(CLEARML_API_PATH)])
    from tunehouse.client.http import HttpStore

    store = HttpStore(server, access_key, secret_key)
    try:
        task = store.tasks.get_task(task_id)
    finally:
        store.close()
    return settings.replace(server=server, access_key=access_key, secret_key=secret_key,
                            task_id=task.id, task_attempt=task.attempt, act_as=task.user)
