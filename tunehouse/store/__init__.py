"""Storage of tunehouse records: the :class:`Store` interface by area, the account areas
(:mod:`tunehouse.store.accounts`) and their SQL implementation. This package imports neither the server, the client nor the SDK; the
choice between the SQL store and the HTTP client is :func:`tunehouse.client.open_store`."""

from tunehouse.store.base import Store

__all__ = ["Store"]
