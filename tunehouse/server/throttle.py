"""Brute-force protection of sign-ins and API keys, over the ``auth_throttle`` table.

Failed attempts are counted per key: a failed sign-in per ``user:<name>`` (the name as
typed) and per ``addr:<client address>``, a failed API-key check (unknown access key or
wrong secret) per ``key:<access key>`` and per ``addr:<client address>``. Per key:

* after :attr:`ThrottlePolicy.delay_after` failures (``TUNEHOUSE_LOGIN_DELAY_AFTER``,
  default 5), each further attempt within 1 s, 2 s, 4 s, ... (at most 60 s) of the last
  failure is refused at once with 429 :class:`~tunehouse.errors.TooManyAttempts` and its
  ``Retry-After``; the server never sleeps on a request;
* after :attr:`ThrottlePolicy.lockout_after` failures within 15 minutes
  (``TUNEHOUSE_LOGIN_LOCKOUT_AFTER``, default 20) the key is locked for
  :attr:`ThrottlePolicy.lockout_s` (``TUNEHOUSE_LOGIN_LOCKOUT_S``, default 900 s): every
  attempt is refused, even with the right password. The lockout is audited once
  (``auth.lockout``); admins list and clear lockouts (``GET /api/v1/auth/lockouts``,
  ``DELETE /api/v1/auth/lockouts/{key}``, ``tunehouse users lockouts|unlock``).

A successful sign-in deletes the user's counter (not the address's). Refused attempts
are not counted. Honest requests stay cheap: a sign-in reads the two rows before the
(slow, argon2) password check, so a refused attempt costs at most one indexed read;
API keys are verified first (a fast hash) and a valid key never touches the table, so a
locked key or address never stops a valid key (its secret is too long to guess, and an
access key is no secret: locking valid keys would let anyone stop an agent). Only a
failed check reads the rows, and writes them when it is counted.

Within one server process at most one attempt per key is checked at a time once a key
has reached the delay threshold, so parallel attempts cannot slip past the delays, and a
refusal read from the table is remembered for up to :data:`REMEMBER_S` (never past its
end): while a key is hammered, further attempts are refused from memory, without a
database read. An unlock takes effect at once in the process that made it (the API) and
within :data:`REMEMBER_S` in the others (the CLI works on the table).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import NotFound, TooManyAttempts
from tunehouse.settings import Settings
from tunehouse.store import schema as t
from tunehouse.store.records import Lockout
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.database import AuditContext, Database, DbRow, SqlArea, utcnow

#: Failures count towards a lockout within this many seconds of the first one.
WINDOW_S = 15 * 60
#: The longest delay after a failure (the delays double from 1 s up to this).
MAX_DELAY_S = 60
#: The longest key the table holds; longer ones (typed names) keep their SHA-256.
KEY_MAX = t.NAME_LENGTH + 8
#: The longest a refusal read from the table is remembered by a server process.
REMEMBER_S = 5.0
#: Past this many remembered refusals, the ended ones are dropped.
REMEMBER_MAX = 10_000
#: Which key a refusal names when several refuse alike: the user's, the key's, the address's.
_RANKS = {"user": 2, "key": 1, "addr": 0}
#: What the failures of each kind of key are.
_FAILURES = {"user": "sign-ins", "key": "API-key checks",
             "addr": "sign-ins and API-key checks"}


@dataclass(frozen=True)
class ThrottlePolicy:
    """When failures delay and lock a key (see the module's docstring)."""

    delay_after: int = 5
    lockout_after: int = 20
    lockout_s: int = 900
    window_s: int = WINDOW_S
    max_delay_s: int = MAX_DELAY_S

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(delay_after=settings.login_delay_after,
                   lockout_after=settings.login_lockout_after,
                   lockout_s=settings.login_lockout_s)

    def delay_s(self, failures: int) -> int:
        """Seconds an attempt must wait after the last of ``failures`` failures."""
        if failures < self.delay_after:
            return 0
        return int(min(self.max_delay_s, 2 ** min(failures - self.delay_after, 30)))


def throttle_key(kind: str, value: str | None) -> str:
    """``<kind>:<value>``, or ``<kind>:sha256:<hex>`` when that is too long to keep."""
    key = f"{kind}:{value or 'unknown'}"
    if len(key) > KEY_MAX:
        key = f"{kind}:sha256:{hashlib.sha256((value or '').encode()).hexdigest()}"
    return key


def user_key(name: str) -> str:
    return throttle_key("user", name)


def address_key(address: str | None) -> str:
    return throttle_key("addr", address)


def api_key_key(access_key: str) -> str:
    return throttle_key("key", access_key)


def describe(key: str) -> str:
    """``for alice``, ``from 10.0.0.7``, ``with API key THAB...``: who a key is."""
    kind, _, value = key.partition(":")
    return {"user": f"for {value}", "addr": f"from {value}",
            "key": f"with API key {value}"}.get(kind, key)


def _target(key: str) -> tuple[str, str]:
    """The audit target of a key: ``("user", name)``, ``("address", ...)``, ``("api_key", ...)``."""
    kind, _, value = key.partition(":")
    return {"user": "user", "addr": "address", "key": "api_key"}.get(kind, "throttle"), value


def _lockout(row: DbRow) -> Lockout:
    return Lockout(key=row.key, failures=row.failures, first_failure=row.first_failure,
                   last_failure=row.last_failure, locked_until=row.locked_until)


class Throttle(SqlArea):
    """The counters of failed sign-ins and key checks on the server's database.

    Args:
        db: The database (``SqlStore.db``).
        policy: The delays and lockout.
        user: The acting user (recorded on the audit entries: ``server`` for lockouts, the
            admin or CLI user for unlocks).
    """

    def __init__(self, db: Database, policy: ThrottlePolicy, user: str = "server",
                 context: AuditContext | None = None) -> None:
        super().__init__(db, user, context=context or AuditContext())
        self.policy = policy
        self._busy: Counter[str] = Counter()  # attempts being checked, per key
        self._lock = threading.Lock()
        #: key -> (monotonic time the refusal is remembered until, its end, locked)
        self._remembered: dict[str, tuple[float, datetime, bool]] = {}

    @classmethod
    def of(cls, store: SqlStore, settings: Settings, user: str | None = None) -> Throttle:
        """The throttle on ``store``'s database with ``settings``' policy."""
        return cls(store.db, ThrottlePolicy.from_settings(settings), user or "server")

    def with_user(self, user: str) -> Throttle:
        """The same counters, acting as ``user`` (for admins' unlocks); it shares this
        one's memory of refusals, so that its unlocks take effect at once."""
        view = Throttle(self._db, self.policy, user, self.context)
        view._remembered = self._remembered
        return view

    def check_remembered(self, keys: Sequence[str]) -> None:
        """Raise the TooManyAttempts remembered for one of ``keys``, if any (no database
        read)."""
        if not self._remembered:
            return
        clock, now = time.monotonic(), utcnow()
        worst: tuple[bool, int, int, str, datetime] | None = None  # as :meth:`_refusal`
        for key in keys:
            found = self._remembered.get(key)
            if found is None:
                continue
            if found[0] <= clock:
                self._remembered.pop(key, None)
                continue
            wait = max(1, math.ceil((found[1] - now).total_seconds()))
            candidate = (found[2], wait, _RANKS.get(key.partition(":")[0], 0), key, found[1])
            if worst is None or candidate[:3] > worst[:3]:
                worst = candidate
        if worst is None:
            return
        locked, wait, _, key, ends = worst
        if locked:
            raise self._refuse(key, f"locked until {ends:%Y-%m-%d %H:%M:%S} UTC", wait, ends)
        raise self._refuse(key, f"try again in {wait} s", wait)

    def _remember(self, key: str, ends: datetime, locked: bool, now: datetime) -> None:
        left = (ends - now).total_seconds()
        if left <= 0:
            return
        clock = time.monotonic()
        if len(self._remembered) >= REMEMBER_MAX:  # many keys refused: forget the past ones
            for old in [k for k, found in list(self._remembered.items()) if found[0] <= clock]:
                self._remembered.pop(old, None)
        self._remembered[key] = (clock + min(left, REMEMBER_S), ends, locked)

    # ------------------------------------------------------------ attempts
    @contextmanager
    def guard(self, keys: Sequence[str]) -> Iterator[set[str]]:
        """Admit one attempt (a sign-in) for ``keys``, checked in the block: raises
        TooManyAttempts when a key is delayed, locked, or (once at the delay threshold)
        already has an attempt being checked in this process. Yields the keys that have
        counted failures (the caller resets the user's on success, :meth:`reset`)."""
        self.check_remembered(keys)
        with self._lock:  # read and admit together: a failure is recorded before its
            rows = self._rows(keys)  # attempt leaves, so failures + busy never falls short
            refused = self._refusal(rows.values(), utcnow())
            if refused is not None:
                raise refused
            for key in keys:
                failures = rows[key].failures if key in rows else 0
                if self._busy[key] and failures + self._busy[key] >= self.policy.delay_after:
                    raise self._refuse(key, "another attempt is being checked; try again in "
                                            "1 s", 1)
            self._busy.update(keys)
        try:
            yield set(rows)
        finally:
            with self._lock:
                self._busy.subtract(keys)
                for key in keys:
                    if self._busy[key] <= 0:
                        del self._busy[key]

    def check_failed(self, keys: Sequence[str], client: str | None) -> None:
        """A check that failed (the credentials were wrong) and was not admitted by
        :meth:`guard` first (API keys, verified before the throttle is read): raises
        TooManyAttempts when a key is delayed or locked (the failure is not counted),
        else counts it (:meth:`failed`)."""
        self.check_remembered(keys)
        refused = self._refusal(self._rows(keys).values(), utcnow())
        if refused is not None:
            raise refused
        self.failed(keys, client)

    def failed(self, keys: Sequence[str], client: str | None) -> None:
        """Count one failed attempt for each of ``keys`` (from address ``client``); lock a
        key reaching the lockout threshold and audit that once."""
        now = utcnow()
        policy = self.policy
        auditor = SqlArea(self._db, self.user, context=AuditContext(client=client))
        with self._write() as conn:
            for key in sorted(set(keys)):  # one order everywhere: no deadlock between them
                row = self._locked_row(conn, key, now)
                if row.locked_until is not None and row.locked_until > now:
                    continue  # locked meanwhile: nothing more to count
                restart = (row.failures == 0 or row.locked_until is not None
                           or (now - row.first_failure).total_seconds() > policy.window_s)
                failures = 1 if restart else row.failures + 1
                first = now if restart else row.first_failure
                locked = (now + timedelta(seconds=policy.lockout_s)
                          if failures >= policy.lockout_after else None)
                conn.execute(sa.update(t.auth_throttle).where(t.auth_throttle.c.key == key)
                             .values(failures=failures, first_failure=first, last_failure=now,
                                     locked_until=locked))
                if locked is not None:
                    target_type, target_id = _target(key)
                    auditor._audit(conn, "auth.lockout", target_type, target_id, {
                        "key": key, "failures": failures, "since": first.isoformat(),
                        "locked_until": locked.isoformat()})

    def reset(self, key: str) -> None:
        """Forget the failures of ``key`` (a successful sign-in of that user)."""
        with self._write() as conn:
            conn.execute(sa.delete(t.auth_throttle).where(t.auth_throttle.c.key == key))

    def _locked_row(self, conn: Connection, key: str, now: datetime) -> DbRow:
        """The row of ``key``, created (0 failures) when missing; locked until commit on
        PostgreSQL (SQLite write transactions hold the database lock already)."""
        conn.execute(self._insert(t.auth_throttle).values(
            key=key, failures=0, first_failure=now, last_failure=now, locked_until=None,
        ).on_conflict_do_nothing(index_elements=["key"]))
        query = sa.select(t.auth_throttle).where(t.auth_throttle.c.key == key)
        if self.is_postgres:
            query = query.with_for_update()
        return conn.execute(query).one()

    def _rows(self, keys: Iterable[str]) -> dict[str, DbRow]:
        """The rows of ``keys`` (one indexed read)."""
        with self._read() as conn:
            rows = conn.execute(sa.select(t.auth_throttle)
                                .where(t.auth_throttle.c.key.in_(list(keys)))).all()
        return {row.key: row for row in rows}

    def _refusal(self, rows: Iterable[DbRow], now: datetime) -> TooManyAttempts | None:
        """The refusal of an attempt now, when a row is locked or delayed (the longest);
        each refusing row is remembered (:meth:`check_remembered`)."""
        # a lockout goes first, then the longest wait, then the user's (or key's) own key
        worst: tuple[bool, int, int, str, datetime | None] | None = None
        for row in rows:
            rank = _RANKS.get(row.key.partition(":")[0], 0)
            if row.locked_until is not None and row.locked_until > now:
                found = (True, math.ceil((row.locked_until - now).total_seconds()), rank,
                         row.key, row.locked_until)
                self._remember(row.key, row.locked_until, True, now)
            else:
                delay = self.policy.delay_s(row.failures)
                ends = row.last_failure + timedelta(seconds=delay)
                wait = (ends - now).total_seconds()
                if delay == 0 or wait <= 0:
                    continue
                found = (False, math.ceil(wait), rank, row.key, None)
                self._remember(row.key, ends, False, now)
            if worst is None or found[:3] > worst[:3]:
                worst = found
        if worst is None:
            return None
        _, seconds, _, key, until = worst
        if until is not None:
            return self._refuse(key, f"locked until {until:%Y-%m-%d %H:%M:%S} UTC", seconds,
                                until)
        return self._refuse(key, f"try again in {seconds} s", seconds)

    @staticmethod
    def _refuse(key: str, reason: str, retry_after: int,
                locked_until: datetime | None = None) -> TooManyAttempts:
        kind = key.partition(":")[0]
        detail: dict[str, Any] = {"key": key, "retry_after": max(1, retry_after)}
        if locked_until is not None:
            detail["locked_until"] = locked_until.isoformat()
        return TooManyAttempts(f"too many failed {_FAILURES.get(kind, 'attempts')} "
                               f"{describe(key)}: {reason}", detail)

    # ------------------------------------------------------------ admins
    def list_lockouts(self, every: bool = False, limit: int = 1000) -> list[Lockout]:
        """The keys locked now, the latest lockout first; ``every``: every key with
        counted failures (locked or not), the latest failure first."""
        table = t.auth_throttle
        query = sa.select(table).where(table.c.failures > 0).limit(limit)
        if every:
            query = query.order_by(table.c.last_failure.desc())
        else:
            query = query.where(table.c.locked_until > utcnow()).order_by(
                table.c.locked_until.desc())
        with self._read() as conn:
            return [_lockout(row) for row in conn.execute(query).all()]

    def clear(self, key: str) -> Lockout:
        """Unlock ``key`` and forget its failures (audited ``auth.unlock``); returns what
        was counted. NotFound when nothing was."""
        table = t.auth_throttle
        with self._write() as conn:
            row = conn.execute(sa.select(table).where(table.c.key == key)).first()
            if row is None or row.failures == 0:
                raise NotFound(f"no failed attempts are counted for {key!r} (keys look like "
                               "user:<name>, addr:<address> or key:<access key>)")
            conn.execute(sa.delete(table).where(table.c.key == key))
            self._remembered.pop(key, None)
            target_type, target_id = _target(key)
            self._audit(conn, "auth.unlock", target_type, target_id, {
                "key": key, "failures": row.failures,
                "locked_until": row.locked_until.isoformat() if row.locked_until else None})
        return _lockout(row)

    def purge(self) -> int:
        """Delete the counters that no longer delay, lock or count towards a lockout."""
        now = utcnow()
        table = t.auth_throttle
        with self._write() as conn:
            done = conn.execute(sa.delete(table).where(
                sa.or_(table.c.locked_until.is_(None), table.c.locked_until <= now),
                table.c.first_failure < now - timedelta(seconds=self.policy.window_s),
                table.c.last_failure < now - timedelta(seconds=self.policy.max_delay_s),
            )).rowcount
        return int(done or 0)
