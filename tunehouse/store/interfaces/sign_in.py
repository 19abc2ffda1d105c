"""What signing in keeps: web sessions and the counters of failed attempts.

**Sessions** (:class:`SessionStore`, store-only: no route reads or writes one directly).
The browser holds a random token; the store keeps its SHA-256 (a copy of the table holds
no usable cookie), the user, when it was last used and when it expires. The timeouts are
the server's settings, given with each call.

**Throttle counters** (:class:`ThrottleStore`). Failures are counted per key:
``user:<name>``, ``addr:<client address>`` or ``key:<access key>``. What counts, when a
key is delayed or locked and for how long are the server's rules
(:mod:`tunehouse.server.throttle`); the store counts atomically, applying the rule the
server passes in the transaction that reads the counter, and audits a lockout
(``auth.lockout``) in that transaction. Admins list and clear counters
(:class:`Lockouts`, over HTTP: ``/auth/lockouts``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from datetime import datetime

from tunehouse.store.records import Lockout, User

#: The longest session token taken (a real one is 43 characters): longer ones are refused
#: without a read.
TOKEN_MAX_LENGTH = 128
#: The longest key of a counter (longer ones are the server's to shorten).
COUNTER_KEY_MAX = 255 + 8

#: The rule of a failure: the counter of a key after one more failure at ``now``, given
#: the counter before (None: nothing counted yet).
FailureRule = Callable[[Lockout | None, datetime], Lockout]


def lockout_target(key: str) -> tuple[str, str]:
    """The audit target of a counter's key: ``("user", name)``, ``("address", ...)``,
    ``("api_key", ...)`` (``("throttle", value)`` for any other kind)."""
    kind, _, value = key.partition(":")
    return {"user": "user", "addr": "address", "key": "api_key"}.get(kind, "throttle"), value


class Lockouts(abc.ABC):
    """The counters of failed sign-ins and key checks, as admins see them."""

    @abc.abstractmethod
    def list_lockouts(self, every: bool = False, limit: int = 1000) -> list[Lockout]:
        """The keys locked now, the latest lockout first; ``every``: every key with
        counted failures (locked or not), the latest failure first."""

    @abc.abstractmethod
    def clear_lockout(self, key: str) -> Lockout:
        """Unlock ``key`` and forget its failures (audited ``auth.unlock`` by the acting
        user); returns what was counted. NotFound when nothing was."""


class ThrottleStore(Lockouts):
    """:class:`Lockouts` plus counting (store-only: never over HTTP)."""

    @abc.abstractmethod
    def get_counters(self, keys: Sequence[str]) -> dict[str, Lockout]:
        """Store-only. The counters of those of ``keys`` that have one (one read)."""

    @abc.abstractmethod
    def count_failure(self, keys: Sequence[str], rule: FailureRule,
                      client: str | None = None) -> list[Lockout]:
        """Store-only. Count one failure for each of ``keys`` (each key once, in one order
        everywhere, so concurrent counts neither deadlock nor lose a failure): the new
        counter is ``rule(counter before, now)``, written in the transaction that read the
        one before. A counter that becomes locked is audited once (``auth.lockout``, with
        address ``client``). Returns the new counters."""

    @abc.abstractmethod
    def forget_failures(self, key: str) -> None:
        """Store-only. Delete the counter of ``key`` (a successful sign-in); not audited."""

    @abc.abstractmethod
    def purge_counters(self, window_s: float, quiet_s: float) -> int:
        """Store-only. Delete the counters that are not locked now, whose first failure is
        over ``window_s`` seconds old and whose last is over ``quiet_s`` seconds old; how
        many."""


class SessionStore(abc.ABC):
    """Web sessions kept on the server (store-only: never over HTTP)."""

    @abc.abstractmethod
    def create_session(self, user: str, client: str | None, max_s: float) -> str:
        """Store-only. Start a session of ``user`` (from address ``client``) that ends
        ``max_s`` seconds from now at the latest; returns its token (URL-safe, 43
        characters)."""

    @abc.abstractmethod
    def check_session(self, token: str, idle_s: float) -> User:
        """Store-only. The user of a valid session; AuthenticationFailed when it does not
        exist (signed out, ended by an admin, never issued), has expired, was not used
        within ``idle_s`` seconds, or its user is disabled. Notes the use (at most once per
        minute, or per quarter of ``idle_s`` when that is shorter)."""

    @abc.abstractmethod
    def end_session(self, token: str) -> bool:
        """Store-only. Delete the session of ``token``; whether there was one."""

    @abc.abstractmethod
    def count_sessions(self, user: str) -> int:
        """Store-only. How many sessions ``user`` has (ended ones not purged yet count)."""

    @abc.abstractmethod
    def purge_sessions(self, idle_s: float) -> int:
        """Store-only. Delete the sessions that have expired or were not used within
        ``idle_s`` seconds; how many."""
