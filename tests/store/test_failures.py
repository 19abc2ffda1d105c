"""Database failures are named for what they are (``tunehouse/store/failures.py``), from
the real errors of real databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tunehouse.errors import StorageUnavailable
from tunehouse.store.failures import storage_error


def test_a_sqlite_lock_not_had_in_time_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    """SQLite's busy timeout running out behind another write (a large event batch on a
    loaded machine) is 503 ``storage_unavailable``, which clients retry; it was a 500."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    holder = sa.create_engine(url)
    waiter = sa.create_engine(url, connect_args={"timeout": 0.1})
    try:
        with holder.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.commit()
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # holds the write lock
            with waiter.connect() as other, pytest.raises(sa.exc.OperationalError) as raised:
                other.exec_driver_sql("INSERT INTO t VALUES (1)")
            conn.rollback()
    finally:
        holder.dispose()
        waiter.dispose()
    error = storage_error(raised.value)
    assert isinstance(error, StorageUnavailable) and error.status == 503
    assert "busy" in error.message and "try again" in error.message
