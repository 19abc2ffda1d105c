"""A clock tests move by hand: give it to the account areas the app is made with
(``create_app(..., accounts=open_accounts(store, clock=clock))``, whose throttle and
sessions then read it too) and call :meth:`FakeClock.advance` where a test would otherwise
sleep through a throttle delay, a lockout or a session timeout."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A :data:`~tunehouse.store.clock.Clock` that stands still until advanced.

    Args:
        start: The time it starts at (default: now, to the second).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock ``seconds`` forward; the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now
