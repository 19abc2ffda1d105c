"""What the clients of the server's JSON API share: :class:`ApiClient`, the base of
:class:`~tunehouse.client.http.HttpStore` and :class:`~tunehouse.client.accounts.HttpAccounts`.

Each holds one :class:`~tunehouse.client.transport.Caller` (the connection, and the user
it acts for); views made by ``with_user`` share the connection, and only the object that
opened it closes it.
"""

from __future__ import annotations

from tunehouse.client.transport import Caller
from tunehouse.errors import AuthenticationFailed, TunehouseError
from tunehouse.settings import Settings
from tunehouse.store.records import User


class ApiClient:
    """A connection to the server, the user it acts as, ``whoami`` and ``close``."""

    _caller: Caller
    _owner: bool
    _user: str | None

    def _bind_caller(self, caller: Caller, owner: bool) -> None:
        """Use ``caller``; ``owner``: this object opened its connection (and closes it)."""
        self._caller = caller
        self._owner = owner
        self._user = caller.act_as

    @property
    def url(self) -> str:
        return self._caller.conn.url

    @property
    def user(self) -> str:
        """The acting user: the key's user, or the name given to ``with_user``."""
        if self._user is None:
            self._user = self.whoami().name
        return self._user

    def whoami(self) -> User:
        """The user the configured key belongs to."""
        return self._caller.call(User, "server.whoami")

    def close(self) -> None:
        if self._owner:
            self._caller.conn.close()


def configured_server(settings: Settings, key_hint: str) -> tuple[str, str, str]:
    """``(server, access key, secret key)`` of ``settings``.

    Raises:
        TunehouseError: no server is configured.
        AuthenticationFailed: no key is configured (the message ends with ``key_hint``,
            where to get one).
    """
    if not settings.server:
        raise TunehouseError("no tracking server configured (TUNEHOUSE_SERVER is unset)")
    if not (settings.access_key and settings.secret_key):
        raise AuthenticationFailed(
            f"no API key configured for the server {settings.server}: set "
            f"TUNEHOUSE_ACCESS_KEY and TUNEHOUSE_SECRET_KEY ({key_hint}), or run on the "
            f"server machine where {settings.credentials_path} holds the admin key")
    return settings.server, settings.access_key, settings.secret_key
