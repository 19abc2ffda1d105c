"""Storage failures named for what they are: a full disk or storage that cannot be
written, whether it shows as an ``OSError`` from the blob storage or as a database error
(SQLite's "database or disk is full", PostgreSQL's ``disk_full``, a read-only file or
transaction, a database that cannot be reached, a lock that could not be had in time)."""

from __future__ import annotations

import errno

import sqlalchemy as sa

from tunehouse.errors import StorageFull, StorageUnavailable, TunehouseError

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_UNWRITABLE_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_SQLSTATES = {"53100", "53200", "53400"}  # disk_full, out_of_memory, configuration_limit
_READ_ONLY_SQLSTATES = {"25006"}  # read_only_sql_transaction
_BUSY_SQLSTATES = {"40P01", "55P03"}  # deadlock_detected, lock_not_available


def storage_error(exc: BaseException) -> TunehouseError | None:
    """The tunehouse error for a storage failure, or None when ``exc`` is not one."""
    if isinstance(exc, TunehouseError):
        return None
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, sa.exc.DBAPIError):
        return _database_error(exc)
    return None


def _os_error(exc: OSError) -> TunehouseError | None:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in _FULL_ERRNOS:
        return StorageFull(f"the server's storage is full{where}: {exc.strerror}; nothing was "
                           "stored", detail={"errno": exc.errno})
    if exc.errno in _UNWRITABLE_ERRNOS:
        return StorageUnavailable(f"the server's storage cannot be written{where}: "
                                  f"{exc.strerror}; nothing was stored",
                                  detail={"errno": exc.errno})
    return None


def _database_error(exc: sa.exc.DBAPIError) -> TunehouseError | None:
    original = exc.orig
    text = str(original).lower() if original is not None else str(exc).lower()
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    first_line = str(original).strip().splitlines()[0] if original is not None else ""
    if sqlstate in _FULL_SQLSTATES or "database or disk is full" in text:
        return StorageFull(f"the database's storage is full: {first_line}; nothing was stored")
    if sqlstate in _READ_ONLY_SQLSTATES or "readonly database" in text \
            or "read-only" in text:
        return StorageUnavailable(f"the database is read-only: {first_line}; nothing was stored")
    if sqlstate in _BUSY_SQLSTATES or "database is locked" in text:
        # SQLite's busy timeout ran out behind another long write (a large event batch on
        # a loaded machine), or PostgreSQL broke a deadlock: the same call may pass later
        return StorageUnavailable(f"the database was busy with other writes: {first_line}; "
                                  "nothing was stored, try again")
    if isinstance(exc, sa.exc.OperationalError) and (
            "unable to open database" in text or "disk i/o error" in text
            or "connection" in text or "server closed" in text):
        return StorageUnavailable(f"the database cannot be used: {first_line}")
    return None
