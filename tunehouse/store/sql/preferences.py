"""The ``preferences`` area on SQL (:mod:`tunehouse.store.interfaces.preferences`): one
JSON document per (user, key), checked by :func:`tunehouse.store.preferences.check_preference`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tunehouse.store import schema as t
from tunehouse.store.interfaces.preferences import Preferences
from tunehouse.store.preferences import check_preference, check_preference_key
from tunehouse.store.sql.database import SqlArea


class SqlPreferences(SqlArea, Preferences):
    """The acting user's preferences."""

    def get_preference(self, key: str) -> Any | None:
        check_preference_key(key)
        table = t.user_preferences
        with self._read() as conn:
            row = conn.execute(sa.select(table.c.value).where(
                table.c.user == self.user, table.c.key == key)).first()
        return None if row is None else row.value

    def set_preference(self, key: str, value: Any) -> Any:
        table = t.user_preferences
        if value is None:
            check_preference_key(key)
            with self._write() as conn:
                conn.execute(sa.delete(table).where(table.c.user == self.user,
                                                    table.c.key == key))
            return None
        value = check_preference(key, value)
        insert = self._insert(table).values(user=self.user, key=key, value=value,
                                            updated=self._clock())
        with self._write() as conn:
            conn.execute(insert.on_conflict_do_update(
                index_elements=["user", "key"],
                set_={"value": insert.excluded.value, "updated": insert.excluded.updated}))
        return value
