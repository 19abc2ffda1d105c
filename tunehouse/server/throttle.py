"""Brute-force protection of sign-ins and API keys: the rules, over the store's counters
(the ``throttle`` area, :class:`~tunehouse.store.interfaces.sign_in.ThrottleStore`).

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

Time comes from the clock the throttle is given (the store's), so tests move a fake
clock past a delay or a lockout instead of waiting for it.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tunehouse.errors import TooManyAttempts
from tunehouse.settings import Settings
from tunehouse.store.clock import Clock, utc_now
from tunehouse.store.interfaces.sign_in import COUNTER_KEY_MAX, ThrottleStore
from tunehouse.store.records import Lockout
from tunehouse.store.sql.accounts import SqlAccountStore

#: Failures count towards a lockout within this many seconds of the first one.
WINDOW_S = 15 * 60
#: The longest delay after a failure (the delays double from 1 s up to this).
MAX_DELAY_S = 60
#: The longest key kept; longer ones (typed names) keep their SHA-256.
KEY_MAX = COUNTER_KEY_MAX
#: The longest a refusal read from the table is remembered by a server process.
REMEMBER_S = 5.0
#: Past this many remembered refusals, the ended ones are dropped.
REMEMBER_MAX = 10_000
#: Which key a refusal names when several refuse alike: the user's, the key's, the address's.
_RANKS = {"user": 2, "key": 1, "addr": 0}
#: A refusal being weighed: (locked, seconds to wait, rank of its key, key, when it ends).
_Candidate = tuple[bool, int, int, str, datetime]
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

    def after_failure(self, counter: Lockout | None, now: datetime) -> Lockout:
        """The counter after one more failure at ``now``: a key locked meanwhile stays as
        it is; the count starts again after a lockout or once the window has passed; the
        key is locked for :attr:`lockout_s` on reaching :attr:`lockout_after`."""
        if counter is not None and counter.locked_until is not None \
                and counter.locked_until > now:
            return counter  # locked meanwhile: nothing more to count
        restart = (counter is None or counter.locked_until is not None
                   or (now - counter.first_failure).total_seconds() > self.window_s)
        failures = 1 if restart or counter is None else counter.failures + 1
        first = now if restart or counter is None else counter.first_failure
        locked = (now + timedelta(seconds=self.lockout_s)
                  if failures >= self.lockout_after else None)
        return Lockout(key=counter.key if counter else "", failures=failures,
                       first_failure=first, last_failure=now, locked_until=locked)


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


def _rank(key: str) -> int:
    return _RANKS.get(key.partition(":")[0], 0)


def describe(key: str) -> str:
    """``for alice``, ``from 10.0.0.7``, ``with API key THAB...``: who a key is."""
    kind, _, value = key.partition(":")
    return {"user": f"for {value}", "addr": f"from {value}",
            "key": f"with API key {value}"}.get(kind, key)


class Throttle:
    """The throttle of one server process over the store's counters.

    Args:
        counters: The store's ``throttle`` area (acting as ``server``: lockouts are
            audited as made by it).
        policy: The delays and lockout.
        clock: The time (the store's clock).
    """

    def __init__(self, counters: ThrottleStore, policy: ThrottlePolicy,
                 clock: Clock = utc_now) -> None:
        self.counters = counters
        self.policy = policy
        self.clock = clock
        self._busy: Counter[str] = Counter()  # attempts being checked, per key
        self._lock = threading.Lock()
        #: key -> (time the refusal is remembered until, its end, locked)
        self._remembered: dict[str, tuple[datetime, datetime, bool]] = {}

    @classmethod
    def of(cls, accounts: SqlAccountStore, settings: Settings) -> Throttle:
        """The throttle on ``accounts``' counters and clock with ``settings``' policy."""
        return cls(accounts.throttle, ThrottlePolicy.from_settings(settings), accounts.clock)

    def check_remembered(self, keys: Sequence[str]) -> None:
        """Raise the TooManyAttempts remembered for one of ``keys``, if any (no database
        read)."""
        if not self._remembered:
            return
        now = self.clock()
        candidates: list[_Candidate] = []
        for key in keys:
            found = self._remembered.get(key)
            if found is None:
                continue
            if found[0] <= now or (found[0] - now).total_seconds() > REMEMBER_S:
                self._remembered.pop(key, None)  # over, or the clock was set back
                continue
            wait = max(1, math.ceil((found[1] - now).total_seconds()))
            candidates.append((found[2], wait, _rank(key), key, found[1]))
        refused = self._worst(candidates)
        if refused is not None:
            raise refused

    def _remember(self, key: str, ends: datetime, locked: bool, now: datetime) -> None:
        left = (ends - now).total_seconds()
        if left <= 0:
            return
        if len(self._remembered) >= REMEMBER_MAX:  # many keys refused: forget the past ones
            for old in [k for k, found in list(self._remembered.items()) if found[0] <= now]:
                self._remembered.pop(old, None)
        self._remembered[key] = (now + timedelta(seconds=min(left, REMEMBER_S)), ends, locked)

    def forget_refusal(self, key: str) -> None:
        """Forget a refusal remembered for ``key`` (an unlock made by this process)."""
        self._remembered.pop(key, None)

    # ------------------------------------------------------------ attempts
    @contextmanager
    def guard(self, keys: Sequence[str]) -> Iterator[set[str]]:
        """Admit one attempt (a sign-in) for ``keys``, checked in the block: raises
        TooManyAttempts when a key is delayed, locked, or (once at the delay threshold)
        already has an attempt being checked in this process. Yields the keys that have
        counted failures (the caller resets the user's on success, :meth:`reset`)."""
        self.check_remembered(keys)
        with self._lock:  # read and admit together: a failure is recorded before its
            rows = self.counters.get_counters(keys)  # attempt leaves, so failures + busy
            refused = self._refusal(rows.values(), self.clock())  # never falls short
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
        refused = self._refusal(self.counters.get_counters(keys).values(), self.clock())
        if refused is not None:
            raise refused
        self.failed(keys, client)

    def failed(self, keys: Sequence[str], client: str | None) -> None:
        """Count one failed attempt for each of ``keys`` (from address ``client``); a key
        reaching the lockout threshold is locked, and that is audited once (by the
        store, in the counting transaction)."""
        self.counters.count_failure(keys, self.policy.after_failure, client)

    def reset(self, key: str) -> None:
        """Forget the failures of ``key`` (a successful sign-in of that user)."""
        self.counters.forget_failures(key)

    def _refusal(self, rows: Iterable[Lockout], now: datetime) -> TooManyAttempts | None:
        """The refusal of an attempt now, when a row is locked or delayed (the longest);
        each refusing row is remembered (:meth:`check_remembered`)."""
        candidates: list[_Candidate] = []
        for row in rows:
            if row.locked_until is not None and row.locked_until > now:
                candidates.append((True, math.ceil((row.locked_until - now).total_seconds()),
                                   _rank(row.key), row.key, row.locked_until))
                self._remember(row.key, row.locked_until, True, now)
            else:
                delay = self.policy.delay_s(row.failures)
                ends = row.last_failure + timedelta(seconds=delay)
                wait = (ends - now).total_seconds()
                if delay == 0 or wait <= 0:
                    continue
                candidates.append((False, math.ceil(wait), _rank(row.key), row.key, ends))
                self._remember(row.key, ends, False, now)
        return self._worst(candidates)

    def _worst(self, candidates: Sequence[_Candidate]) -> TooManyAttempts | None:
        """The refusal of the worst candidate: a lockout goes first, then the longest
        wait, then the user's (or key's) own key; the first of equals."""
        worst = max(candidates, key=lambda candidate: candidate[:3], default=None)
        if worst is None:
            return None
        locked, wait, _, key, ends = worst
        if locked:
            return self._refuse(key, f"locked until {ends:%Y-%m-%d %H:%M:%S} UTC", wait, ends)
        return self._refuse(key, f"try again in {wait} s", wait)

    @staticmethod
    def _refuse(key: str, reason: str, retry_after: int,
                locked_until: datetime | None = None) -> TooManyAttempts:
        kind = key.partition(":")[0]
        detail: dict[str, Any] = {"key": key, "retry_after": max(1, retry_after)}
        if locked_until is not None:
            detail["locked_until"] = locked_until.isoformat()
        return TooManyAttempts(f"too many failed {_FAILURES.get(kind, 'attempts')} "
                               f"{describe(key)}: {reason}", detail)

    def purge(self) -> int:
        """Delete the counters that no longer delay, lock or count towards a lockout."""
        return self.counters.purge_counters(self.policy.window_s, self.policy.max_delay_s)
