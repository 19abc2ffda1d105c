"""The SQL implementation of the store: :class:`SqlStore` and its areas."""

from tunehouse.store.sql.store import SqlStore, default_user

__all__ = ["SqlStore", "default_user"]
