"""The HTTP API contract, shared by the server and the client.

One table says which HTTP method and path carries each operation, so the server
registers its routes from it (:func:`tunehouse.server.api._deps.operation`) and the
client builds its requests from it (:meth:`Route.url`). ``tests/test_contract_routes.py``
walks the store's and the accounts' area interfaces (:mod:`tunehouse.store.interfaces`)
and fails when an operation lacks its entry here, its route in the server app, or its
method in the HTTP client, or when a store-only operation has a route.

* Paths are relative to :data:`API_PREFIX`.
* Store operations are named ``<area>.<method>`` (``tasks.get_task``), account operations
  alike (``users.create_user``: the areas of :class:`tunehouse.store.accounts.Accounts`);
  signing in and out, health and who-am-I, which only the server does, are named
  ``server.<what>``.
* Error bodies are ``{"error": {"code": ..., "message": ..., "detail": ...}}``; the codes
  and their HTTP statuses are the ``code``/``status`` attributes of the classes in
  :mod:`tunehouse.errors`, which both sides import (:func:`~tunehouse.errors.error_class_for`
  maps a code back to its class).

This module imports nothing else from tunehouse, so any part may use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

#: Every API path starts with this prefix.
API_PREFIX = "/api/v1"
#: Header naming the user an admin (later: an agent) acts for.
ACT_AS_HEADER = "X-Tunehouse-User"
#: Header of a fenced view (``Store.with_fence``): ``<task id>:<attempt>``.
FENCE_HEADER = "X-Tunehouse-Fence"
#: Cookie carrying a web session (set by ``server.login``).
SESSION_COOKIE = "tunehouse_session"
#: Cookie holding the CSRF token of a web session (readable by the page's scripts), and the
#: header that must repeat it on every cookie-authenticated request that changes something.
CSRF_COOKIE = "tunehouse_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: Operations that need no credentials.
PUBLIC_OPERATIONS = ("server.health", "server.login")

_PARAM = re.compile(r"{(\w+)(:path)?}")


@dataclass(frozen=True)
class Route:
    """HTTP method and path template of one operation.

    ``{name}`` is one URL segment (a slash inside the value is escaped, so no id can walk
    the URL tree); ``{name:path}`` may span segments (hierarchical project names).
    """

    method: str
    path: str

    @property
    def idempotent(self) -> bool:
        """Whether the method alone makes a resend harmless (GET, HEAD, PUT, DELETE)."""
        return self.method in ("GET", "HEAD", "PUT", "DELETE")

    def url(self, **values: Any) -> str:
        """The path with ``values`` filled in and escaped."""

        def fill(match: re.Match[str]) -> str:
            value = str(values[match.group(1)])
            return quote(value, safe="/" if match.group(2) else "")

        return _PARAM.sub(fill, self.path)

    @property
    def params(self) -> list[str]:
        """Names of the path parameters."""
        return [match.group(1) for match in _PARAM.finditer(self.path)]


ROUTES: dict[str, Route] = {
    # tasks: projects, tasks and what they are configured with
    "tasks.get_or_create_project": Route("POST", "/projects"),
    "tasks.list_projects": Route("GET", "/projects"),
    "tasks.get_project": Route("GET", "/projects/{name_or_id:path}"),
    "tasks.create_task": Route("POST", "/tasks"),
    "tasks.list_tasks": Route("GET", "/tasks"),
    "tasks.get_task": Route("GET", "/tasks/{task_id}"),
    "tasks.update_task": Route("PATCH", "/tasks/{task_id}"),
    "tasks.delete_task": Route("DELETE", "/tasks/{task_id}"),
    "tasks.change_status": Route("POST", "/tasks/{task_id}/status"),
    "tasks.request_abort": Route("POST", "/tasks/{task_id}/abort"),
    "tasks.clone_task": Route("POST", "/tasks/{task_id}/clone"),
    "tasks.mark_alive": Route("POST", "/tasks/{task_id}/alive"),
    "tasks.wait_for_children": Route("GET", "/tasks/{task_id}/children/version"),
    "tasks.reap_lost_tasks": Route("POST", "/tasks/reap"),
    "tasks.set_parameters": Route("PUT", "/tasks/{task_id}/parameters"),
    "tasks.get_parameters": Route("GET", "/tasks/{task_id}/parameters"),
    "tasks.set_configuration": Route("PUT", "/tasks/{task_id}/configurations"),
    "tasks.get_configurations": Route("GET", "/tasks/{task_id}/configurations"),
    "tasks.set_script": Route("PUT", "/tasks/{task_id}/script"),
    "tasks.get_script": Route("GET", "/tasks/{task_id}/script"),
    "tasks.set_environment": Route("PUT", "/tasks/{task_id}/environment"),
    "tasks.get_environment": Route("GET", "/tasks/{task_id}/environment"),
    # events: scalars and console
    "events.add_events": Route("POST", "/events"),
    "events.get_metric_summaries": Route("GET", "/tasks/{task_id}/metrics"),
    "events.get_scalars": Route("GET", "/tasks/{task_id}/scalars"),
    "events.get_logs": Route("GET", "/tasks/{task_id}/logs"),
    # artifacts: blobs and task artifacts
    "artifacts.put_blob": Route("PUT", "/blobs"),
    "artifacts.open_blob": Route("GET", "/blobs/{sha256}"),
    "artifacts.plan_upload": Route("POST", "/blobs/uploads"),
    "artifacts.complete_upload": Route("POST", "/blobs/uploads/complete"),
    "artifacts.blob_url": Route("GET", "/blobs/{sha256}/url"),
    "artifacts.add_artifact": Route("POST", "/tasks/{task_id}/artifacts"),
    "artifacts.list_artifacts": Route("GET", "/tasks/{task_id}/artifacts"),
    # models: the registry
    "models.create_model": Route("POST", "/models"),
    "models.list_models": Route("GET", "/models"),
    "models.find_model": Route("GET", "/models/find"),
    "models.set_model_stage": Route("POST", "/models/stage"),
    "models.get_model": Route("GET", "/models/{model_id}"),
    "models.update_model": Route("PATCH", "/models/{model_id}"),
    # queues: queues, claims and workers
    "queues.get_or_create_queue": Route("POST", "/queues"),
    "queues.list_queues": Route("GET", "/queues"),
    "queues.delete_queue": Route("DELETE", "/queues/{queue}"),
    "queues.claim_task": Route("POST", "/queues/claim"),
    "queues.reap_expired_leases": Route("POST", "/queues/reap"),
    "queues.list_queue_entries": Route("GET", "/queues/{queue}/entries"),
    "queues.enqueue": Route("POST", "/tasks/{task_id}/enqueue"),
    "queues.dequeue": Route("POST", "/tasks/{task_id}/dequeue"),
    "queues.move_queued_task": Route("POST", "/tasks/{task_id}/queue-position"),
    "queues.heartbeat": Route("POST", "/workers/heartbeat"),
    "queues.list_workers": Route("GET", "/workers"),
    # server: signing in and out, who am I (tunehouse.server.auth)
    "server.health": Route("GET", "/health"),
    "server.login": Route("POST", "/auth/login"),
    "server.logout": Route("POST", "/auth/logout"),
    "server.whoami": Route("GET", "/auth/me"),
    # the account areas (tunehouse.store.accounts.Accounts)
    "users.create_user": Route("POST", "/users"),
    "users.list_users": Route("GET", "/users"),
    "users.get_user": Route("GET", "/users/{name}"),
    "users.set_user_disabled": Route("PATCH", "/users/{name}"),
    "keys.create_api_key": Route("POST", "/keys"),
    "keys.list_api_keys": Route("GET", "/keys"),
    "keys.revoke_api_key": Route("POST", "/keys/{access_key}/revoke"),
    "throttle.list_lockouts": Route("GET", "/auth/lockouts"),
    "throttle.clear_lockout": Route("DELETE", "/auth/lockouts/{key}"),
    "audit.list_audit_events": Route("GET", "/audit"),
    "preferences.get_preference": Route("GET", "/preferences/{key}"),
    "preferences.set_preference": Route("PUT", "/preferences/{key}"),
    "roles.list_access": Route("GET", "/access/{project:path}"),
    "roles.grant_role": Route("PUT", "/access/{project:path}/{user}"),
    "roles.revoke_role": Route("DELETE", "/access/{project:path}/{user}"),
}

#: Operations that may be sent twice with the same effect as once, besides every GET, PUT
#: and DELETE: a resent event batch is stored once (its ``batch_id``), get-or-create,
#: heartbeats and the planning and completing of a blob upload converge. The client resends these once when a kept-alive connection drops.
IDEMPOTENT_OPERATIONS = ("events.add_events", "tasks.get_or_create_project",
                         "artifacts.plan_upload", "artifacts.complete_upload",
                         "tasks.mark_alive", "tasks.reap_lost_tasks",
                         "queues.get_or_create_queue", "queues.heartbeat",
                         "queues.move_queued_task", "queues.reap_expired_leases")

#: Operations whose request body is raw bytes streamed through, not JSON (the JSON body
#: limit does not apply to them).
STREAMING_OPERATIONS = ("artifacts.put_blob",)


def route(operation: str) -> Route:
    """The route of ``operation`` (KeyError names an operation missing from the table)."""
    try:
        return ROUTES[operation]
    except KeyError:
        raise KeyError(f"operation {operation!r} is not in tunehouse.contract.ROUTES") from None
