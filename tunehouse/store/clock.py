"""The time source of the account areas and of the server's sign-in policy.

A :data:`Clock` is any callable answering the current time as an aware UTC ``datetime``.
:func:`utc_now` (the real time) is the default everywhere; tests hand the same fake clock
to the store and to the server and move it forward instead of sleeping, so throttle
delays, lockouts and session timeouts are tested without waiting for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Answers the current time, aware and in UTC.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real current time, in UTC."""
    return datetime.now(UTC)
