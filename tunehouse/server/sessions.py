"""Web sessions, kept on the server so that they can be ended.

Signing in (``POST /api/v1/auth/login`` or the UI's ``/login`` form) creates a row of
``sessions`` and hands the browser a random token (32 bytes, URL-safe base64) in the
HttpOnly ``tunehouse_session`` cookie. The row's id is the SHA-256 of the token, so the
table holds nothing a thief could present as a cookie.

A session is valid while its row exists, its absolute timeout (``expires``: sign-in +
``session_max_s``, ``TUNEHOUSE_SESSION_MAX_S``) has not passed and it was used within
``session_idle_s`` (``TUNEHOUSE_SESSION_IDLE_S``). ``last_seen`` is written at most once
per :data:`LAST_SEEN_RESOLUTION_S` (less when the idle timeout is short), not on every
request. Signing out deletes the row; disabling a user deletes all of theirs (in
:meth:`~tunehouse.server.accounts.Accounts.set_user_disabled`'s transaction); the server's
watchdog deletes ended ones (:meth:`Sessions.purge`).

Checking a session is one indexed read joining the user, so a disabled or deleted user's
session is refused at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from tunehouse.errors import AuthenticationFailed
from tunehouse.server.accounts import _user as user_from_row
from tunehouse.store import schema as t
from tunehouse.store.records import User
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.database import Database, SqlArea, utcnow

#: ``last_seen`` is written at most this often (a quarter of a short idle timeout).
LAST_SEEN_RESOLUTION_S = 60.0
#: Bytes of randomness of a session token.
TOKEN_BYTES = 32
#: The longest cookie value taken for a token (a real one is 43 characters).
TOKEN_MAX_LENGTH = 128
_INVALID = "invalid session; log in again"


def session_id(token: str) -> str:
    """The row id of session token ``token``: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh session token (URL-safe, 43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


class Sessions(SqlArea):
    """The web sessions of the server's database.

    Args:
        db: The database (``SqlStore.db``).
        max_s: Absolute timeout of a session, in seconds.
        idle_s: Idle timeout of a session, in seconds.
    """

    def __init__(self, db: Database, max_s: int, idle_s: int, user: str = "server") -> None:
        super().__init__(db, user)
        self.max_s = max_s
        self.idle_s = idle_s
        self._resolution = timedelta(seconds=min(LAST_SEEN_RESOLUTION_S, idle_s / 4))

    @classmethod
    def of(cls, store: SqlStore, max_s: int, idle_s: int) -> Sessions:
        """The sessions on ``store``'s database."""
        return cls(store.db, max_s, idle_s)

    def create(self, user: str, client: str | None) -> str:
        """Start a session of ``user`` (from address ``client``); returns its token."""
        token = new_token()
        now = utcnow()
        with self._write() as conn:
            conn.execute(sa.insert(t.sessions).values(
                id=session_id(token), user=user, created=now, last_seen=now,
                expires=now + timedelta(seconds=self.max_s), client=(client or "")[:255]))
        return token

    def check(self, token: str) -> User:
        """The user of a valid session; AuthenticationFailed when the session does not
        exist (signed out, ended by an admin, never issued), has expired, was idle too
        long, or its user is disabled."""
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
        now = utcnow()
        if row.expires <= now:
            raise AuthenticationFailed("session expired; log in again")
        if (now - row.last_seen).total_seconds() > self.idle_s:
            raise AuthenticationFailed("session ended after being idle; log in again")
        if row.disabled:
            raise AuthenticationFailed("user is disabled")
        if now - row.last_seen >= self._resolution:
            with self._write() as conn:
                conn.execute(sa.update(t.sessions).where(t.sessions.c.id == sid)
                             .values(last_seen=now))
        return user_from_row(row)

    def end(self, token: str) -> bool:
        """Delete the session of ``token``; whether there was one."""
        if not token or len(token) > TOKEN_MAX_LENGTH:
            return False
        with self._write() as conn:
            done = conn.execute(sa.delete(t.sessions)
                                .where(t.sessions.c.id == session_id(token))).rowcount
        return bool(done)

    def count(self, user: str) -> int:
        """How many sessions ``user`` has (ended ones the watchdog has not purged count)."""
        with self._read() as conn:
            found = conn.execute(sa.select(sa.func.count()).select_from(t.sessions)
                                 .where(t.sessions.c.user == user)).scalar_one()
        return int(found)

    def purge(self) -> int:
        """Delete the sessions that have expired or been idle too long; how many."""
        now = utcnow()
        idle_since = now - timedelta(seconds=self.idle_s)
        with self._write() as conn:
            done = conn.execute(sa.delete(t.sessions).where(
                sa.or_(t.sessions.c.expires <= now, t.sessions.c.last_seen < idle_since))
            ).rowcount
        return int(done or 0)

