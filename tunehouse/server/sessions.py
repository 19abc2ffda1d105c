"""Web sessions, kept on the server so that they can be ended: the server's timeouts over
the store's ``sessions`` area (:class:`~tunehouse.store.interfaces.sign_in.SessionStore`).

Signing in (``POST /api/v1/auth/login`` or the UI's ``/login`` form) creates a session and
hands the browser a random token (32 bytes, URL-safe base64) in the HttpOnly
``tunehouse_session`` cookie; the store keeps the token's SHA-256, so its table holds
nothing a thief could present as a cookie.

A session is valid while it exists, its absolute timeout (sign-in + ``session_max_s``,
``TUNEHOUSE_SESSION_MAX_S``) has not passed and it was used within ``session_idle_s``
(``TUNEHOUSE_SESSION_IDLE_S``). Signing out deletes it; disabling a user deletes all of
theirs (in the transaction of the change); the server's watchdog deletes ended ones
(:meth:`Sessions.purge`). Time is the store's clock, so tests move a fake one past the
timeouts instead of waiting.
"""

from __future__ import annotations

from tunehouse.store.interfaces.sign_in import TOKEN_MAX_LENGTH, SessionStore
from tunehouse.store.records import User

__all__ = ["TOKEN_MAX_LENGTH", "Sessions"]


class Sessions:
    """The web sessions of the server, with its timeouts.

    Args:
        store: The store's ``sessions`` area.
        max_s: Absolute timeout of a session, in seconds.
        idle_s: Idle timeout of a session, in seconds.
    """

    def __init__(self, store: SessionStore, max_s: int, idle_s: int) -> None:
        self.store = store
        self.max_s = max_s
        self.idle_s = idle_s

    def create(self, user: str, client: str | None) -> str:
        """Start a session of ``user`` (from address ``client``); returns its token."""
        return self.store.create_session(user, client, self.max_s)

    def check(self, token: str) -> User:
        """The user of a valid session; AuthenticationFailed else (see
        :meth:`~tunehouse.store.interfaces.sign_in.SessionStore.check_session`)."""
        return self.store.check_session(token, self.idle_s)

    def end(self, token: str) -> bool:
        """Delete the session of ``token``; whether there was one."""
        return self.store.end_session(token)

    def purge(self) -> int:
        """Delete the sessions that have expired or been idle too long; how many."""
        return self.store.purge_sessions(self.idle_s)
