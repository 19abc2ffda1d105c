"""Storage of tunehouse records: the :class:`Store` interface and its SQL implementation."""

from tunehouse.store.base import Store

__all__ = ["Store", "open_store"]


def open_store(settings: "object", user: str | None = None) -> Store:
    """The store the settings point at: HTTP when ``settings.server`` is set, else SQL.

    Imported lazily so that the SDK pays only for the backend it uses.
    """
    from tunehouse.settings import Settings

    assert isinstance(settings, Settings)
    if settings.server:
        from tunehouse.client.http import HttpStore

        return HttpStore.from_settings(settings)
    from tunehouse.store.sql import SqlStore

    return SqlStore.from_settings(settings, user=user)
