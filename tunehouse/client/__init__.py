"""Reaching the records from a process: :func:`open_store` picks the HTTP client
(:class:`~tunehouse.client.http.HttpStore`) when a server is configured, else the
embedded SQL store. :class:`~tunehouse.client.accounts.HttpAccounts` reaches the account
areas of a server (admins; every user for its own keys and preferences). The client
imports the store package; the store never imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunehouse.settings import Settings
    from tunehouse.store.base import Store

__all__ = ["open_store"]


def open_store(settings: Settings, user: str | None = None) -> Store:
    """The store the settings point at: HTTP when ``settings.server`` is set, else SQL.

    The backend is imported only when chosen, so the SDK pays only for the one it uses.
    Under an agent (``settings.act_as``, ``settings.task_attempt``) the store acts for the
    task's owner and is fenced to the attempt it runs (see ``Store.with_fence``).
    """
    if settings.server:
        from tunehouse.client.http import HttpStore

        return HttpStore.from_settings(settings)
    from tunehouse.store.sql import SqlStore

    return SqlStore.from_settings(settings, user=user)
