"""The store over the tracking server's JSON API.

:class:`HttpStore` keeps the same contract as the SQL store (same areas, same records,
same exceptions; see :mod:`tunehouse.store.base`). One ``httpx.Client`` with keep-alive
is shared by all threads and by the views :meth:`HttpStore.with_user` makes.
"""

from __future__ import annotations

from typing import Any

from tunehouse.client.api_client import ApiClient, configured_server
from tunehouse.client.areas import (
    HttpArtifactStore,
    HttpEventStore,
    HttpModelStore,
    HttpQueueStore,
    HttpTaskStore,
)
from tunehouse.client.transport import Caller, Connection, raise_for_response
from tunehouse.settings import Settings
from tunehouse.store.base import Store

__all__ = ["HttpStore", "raise_for_response"]


class HttpStore(ApiClient, Store):
    """A :class:`~tunehouse.store.base.Store` that talks to a tunehouse server.

    Args:
        url: Base URL of the server, e.g. ``http://127.0.0.1:8420``.
        access_key: API access key.
        secret_key: API secret.
        timeout: Seconds to wait for any one request.
        act_as: The user to act for (see :meth:`with_user`).
        fence: The (task id, attempt) to fence writes to (see :meth:`with_fence`).
    """

    def __init__(self, url: str, access_key: str, secret_key: str, timeout: float = 60.0,
                 act_as: str | None = None, fence: tuple[str, int] | None = None) -> None:
        self._bind(Caller(Connection(url, access_key, secret_key, timeout), act_as=act_as,
                          fence=fence), owner=True)

    def _bind(self, caller: Caller, owner: bool) -> None:
        self._bind_caller(caller, owner)
        self.tasks = HttpTaskStore(caller)
        self.events = HttpEventStore(caller)
        self.artifacts = HttpArtifactStore(caller)
        self.models = HttpModelStore(caller)
        self.queues = HttpQueueStore(caller)

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpStore:
        """The store for ``settings.server`` with the configured key.

        Raises:
            AuthenticationFailed: no access key / secret is configured.
        """
        server, access_key, secret_key = configured_server(
            settings, "create one with `tunehouse keys create`")
        return cls(server, access_key, secret_key, act_as=settings.act_as,
                   fence=settings.fence)

    def with_user(self, user: str) -> HttpStore:
        """A view acting as ``user`` (sent as ``X-Tunehouse-User``; the server allows it
        for admins and agent accounts, or for the key's own user)."""
        view = object.__new__(HttpStore)
        view._bind(Caller(self._caller.conn, act_as=user, fence=self._caller.fence),
                   owner=False)
        return view

    def with_fence(self, task_id: str, attempt: int) -> HttpStore:
        """A view whose writes to ``task_id`` carry ``X-Tunehouse-Fence``: the server
        refuses them (409 ``stale_attempt``) once ``attempt`` is over."""
        view = object.__new__(HttpStore)
        view._bind(Caller(self._caller.conn, act_as=self._caller.act_as,
                          fence=(task_id, attempt)), owner=False)
        view._user = self._user
        return view

    def health(self) -> dict[str, Any]:
        """The server's health document (no authentication needed)."""
        return self._caller.call(dict[str, Any], "server.health")
