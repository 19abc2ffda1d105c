"""The ``sessions`` and ``throttle`` areas on SQL (:mod:`tunehouse.store.interfaces.sign_in`).

Checking a session is one indexed read joining the user, so a disabled or deleted user's
session is refused at once; its use is noted at most once per
:data:`LAST_SEEN_RESOLUTION_S` (less when the idle timeout is short), not on every
request. A failure is counted with the counter's row locked (``FOR UPDATE`` on
PostgreSQL, the write lock on SQLite) in one transaction with its lockout's audit entry.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import AuthenticationFailed, NotFound
from tunehouse.store import schema as t
from tunehouse.store.interfaces.sign_in import (
    TOKEN_MAX_LENGTH,
    FailureRule,
    SessionStore,
    ThrottleStore,
    lockout_target,
)
from tunehouse.store.records import Lockout, User
from tunehouse.store.sql.database import DbRow, SqlArea
from tunehouse.store.sql.users import user_from_row

#: ``last_seen`` is written at most this often (a quarter of a short idle timeout).
LAST_SEEN_RESOLUTION_S = 60.0
#: Bytes of randomness of a session token.
TOKEN_BYTES = 32
_INVALID = "invalid session; log in again"


def session_id(token: str) -> str:
    """The row id of session token ``token``: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


class SqlSessionStore(SqlArea, SessionStore):
    """Web sessions, their times from the area's clock."""

    def create_session(self, user: str, client: str | None, max_s: float) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        with self._write() as conn:
            conn.execute(sa.insert(t.sessions).values(
                id=session_id(token), user=user, created=now, last_seen=now,
                expires=now + timedelta(seconds=max_s), client=(client or "")[:255]))
        return token

    def check_session(self, token: str, idle_s: float) -> User:
        if not token or len(token) > TOKEN_MAX_LENGTH:
            raise AuthenticationFailed(_INVALID)
        sid = session_id(token)
        query = (sa.select(t.sessions.c.last_seen, t.sessions.c.expires, t.users)
                 .join(t.users, t.users.c.name == t.sessions.c.user)
                 .where(t.sessions.c.id == sid))
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise AuthenticationFailed(_INVALID)
        now = self._clock()
        if row.expires <= now:
            raise AuthenticationFailed("session expired; log in again")
        if (now - row.last_seen).total_seconds() > idle_s:
            raise AuthenticationFailed("session ended after being idle; log in again")
        if row.disabled:
            raise AuthenticationFailed("user is disabled")
        if now - row.last_seen >= timedelta(seconds=min(LAST_SEEN_RESOLUTION_S, idle_s / 4)):
            with self._write() as conn:
                conn.execute(sa.update(t.sessions).where(t.sessions.c.id == sid)
                             .values(last_seen=now))
        return user_from_row(row)

    def end_session(self, token: str) -> bool:
        if not token or len(token) > TOKEN_MAX_LENGTH:
            return False
        with self._write() as conn:
            done = conn.execute(sa.delete(t.sessions)
                                .where(t.sessions.c.id == session_id(token))).rowcount
        return bool(done)

    def count_sessions(self, user: str) -> int:
        with self._read() as conn:
            found = conn.execute(sa.select(sa.func.count()).select_from(t.sessions)
                                 .where(t.sessions.c.user == user)).scalar_one()
        return int(found)

    def purge_sessions(self, idle_s: float) -> int:
        now = self._clock()
        idle_since = now - timedelta(seconds=idle_s)
        with self._write() as conn:
            done = conn.execute(sa.delete(t.sessions).where(
                sa.or_(t.sessions.c.expires <= now, t.sessions.c.last_seen < idle_since))
            ).rowcount
        return int(done or 0)


def _lockout(row: DbRow) -> Lockout:
    return Lockout(key=row.key, failures=row.failures, first_failure=row.first_failure,
                   last_failure=row.last_failure, locked_until=row.locked_until)


class SqlThrottleStore(SqlArea, ThrottleStore):
    """Counters of failed attempts (table ``auth_throttle``)."""

    def get_counters(self, keys: Sequence[str]) -> dict[str, Lockout]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.auth_throttle)
                                .where(t.auth_throttle.c.key.in_(list(keys)))).all()
        return {row.key: _lockout(row) for row in rows}

    def count_failure(self, keys: Sequence[str], rule: FailureRule,
                      client: str | None = None) -> list[Lockout]:
        now = self._clock()
        counted = []
        with self._write() as conn:
            for key in sorted(set(keys)):  # one order everywhere: no deadlock between them
                row = self._locked_row(conn, key)
                before = _lockout(row) if row is not None else None
                after = rule(before, now).model_copy(update={"key": key})
                if after != before:
                    conn.execute(sa.update(t.auth_throttle).where(t.auth_throttle.c.key == key)
                                 .values(**after.model_dump(exclude={"key"})))
                locked = after.locked_until
                if locked is not None and locked > now and (
                        before is None or before.locked_until != locked):
                    target_type, target_id = lockout_target(key)
                    self._audit(conn, "auth.lockout", target_type, target_id, {
                        "key": key, "failures": after.failures,
                        "since": after.first_failure.isoformat(),
                        "locked_until": locked.isoformat()}, client=client)
                counted.append(after)
        return counted

    def _locked_row(self, conn: Connection, key: str) -> DbRow | None:
        """The row of ``key`` (None: nothing counted yet), locked until commit on
        PostgreSQL (SQLite write transactions hold the database lock already). A missing
        row is inserted first (0 failures), so that two processes counting the first
        failure of a key queue here too."""
        now = self._clock()
        conn.execute(self._insert(t.auth_throttle).values(
            key=key, failures=0, first_failure=now, last_failure=now,
            locked_until=None).on_conflict_do_nothing(index_elements=["key"]))
        query = sa.select(t.auth_throttle).where(t.auth_throttle.c.key == key)
        if self.is_postgres:
            query = query.with_for_update()
        row = conn.execute(query).one()
        return None if row.failures == 0 else row

    def forget_failures(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(t.auth_throttle).where(t.auth_throttle.c.key == key))

    def purge_counters(self, window_s: float, quiet_s: float) -> int:
        now = self._clock()
        table = t.auth_throttle
        with self._write() as conn:
            done = conn.execute(sa.delete(table).where(
                sa.or_(table.c.locked_until.is_(None), table.c.locked_until <= now),
                table.c.first_failure < now - timedelta(seconds=window_s),
                table.c.last_failure < now - timedelta(seconds=quiet_s),
            )).rowcount
        return int(done or 0)

    def list_lockouts(self, every: bool = False, limit: int = 1000) -> list[Lockout]:
        table = t.auth_throttle
        query = sa.select(table).where(table.c.failures > 0).limit(limit)
        if every:
            query = query.order_by(table.c.last_failure.desc())
        else:
            query = query.where(table.c.locked_until > self._clock()).order_by(
                table.c.locked_until.desc())
        with self._read() as conn:
            return [_lockout(row) for row in conn.execute(query).all()]

    def clear_lockout(self, key: str) -> Lockout:
        table = t.auth_throttle
        with self._write() as conn:
            row = conn.execute(sa.select(table).where(table.c.key == key)).first()
            if row is None or row.failures == 0:
                raise NotFound(f"no failed attempts are counted for {key!r} (keys look like "
                               "user:<name>, addr:<address> or key:<access key>)")
            conn.execute(sa.delete(table).where(table.c.key == key))
            target_type, target_id = lockout_target(key)
            self._audit(conn, "auth.unlock", target_type, target_id, {
                "key": key, "failures": row.failures,
                "locked_until": row.locked_until.isoformat() if row.locked_until else None})
        return _lockout(row)
