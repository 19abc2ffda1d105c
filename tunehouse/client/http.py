"""The store over the tracking server's JSON API.

:class:`HttpStore` keeps the same contract as the SQL store (same areas, same records,
same exceptions; see :mod:`tunehouse.store.base`). One ``httpx.Client`` with keep-alive
is shared by all threads and by the views :meth:`HttpStore.with_user` makes.
"""

from __future__ import annotations

from typing import Any

from tunehouse.client.areas import (
    HttpArtifactStore,
    HttpEventStore,
    HttpModelStore,
    HttpQueueStore,
    HttpTaskStore,
)
from tunehouse.client.transport import Caller, Connection, raise_for_response
from tunehouse.errors import AuthenticationFailed, TunehouseError
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import User

__all__ = ["HttpStore", "raise_for_response"]


class HttpStore(Store):
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
        self._caller = caller
        self._owner = owner
        self._user: str | None = caller.act_as
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
        if not settings.server:
            raise TunehouseError("no tracking server configured (TUNEHOUSE_SERVER is unset)")
        if not (settings.access_key and settings.secret_key):
            raise AuthenticationFailed(
                f"no API key configured for the server {settings.server}: set "
                "TUNEHOUSE_ACCESS_KEY and TUNEHOUSE_SECRET_KEY (create one with "
                f"`tunehouse keys create`), or run on the server machine where "
                f"{settings.credentials_path} holds the admin key")
        return cls(settings.server, settings.access_key, settings.secret_key,
                   act_as=settings.act_as, fence=settings.fence)

    @property
    def url(self) -> str:
        return self._caller.conn.url

    @property
    def user(self) -> str:
        """The acting user: the key's user, or the name given to :meth:`with_user`."""
        if self._user is None:
            self._user = self.whoami().name
        return self._user

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

    def close(self) -> None:
        if self._owner:
            self._caller.conn.close()

    def whoami(self) -> User:
        """The user the configured key belongs to."""
        return self._caller.call(User, "server.whoami")

    def health(self) -> dict[str, Any]:
        """The server's health document (no authentication needed)."""
        return self._caller.call(dict[str, Any], "server.health")
