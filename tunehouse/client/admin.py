"""The server's own operations over HTTP: users, API keys and the audit log.

For admin tools and tests; the SDK never needs them. The CLI's ``users`` and ``keys``
commands open the database directly instead (:mod:`tunehouse.server.accounts`).
"""

from __future__ import annotations

from tunehouse.client.transport import Caller, Connection
from tunehouse.store.records import ApiKey, AuditEvent, NewApiKey, User


class AdminClient:
    """Users, keys and the audit log on a tunehouse server, with an API key.

    Args:
        url: Base URL of the server.
        access_key: API access key.
        secret_key: API secret.
        timeout: Seconds to wait for any one request.
    """

    def __init__(self, url: str, access_key: str, secret_key: str, timeout: float = 60.0) -> None:
        self._caller = Caller(Connection(url, access_key, secret_key, timeout))

    def close(self) -> None:
        self._caller.conn.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def whoami(self) -> User:
        return self._caller.call(User, "server.whoami")

    def create_user(self, name: str, password: str, admin: bool = False) -> User:
        return self._caller.call(User, "server.create_user",
                                 body={"name": name, "password": password, "admin": admin})

    def get_user(self, name: str) -> User:
        return self._caller.call(User, "server.get_user",
                                 path={"name": name})

    def list_users(self) -> list[User]:
        return self._caller.call(list[User], "server.list_users")

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        return self._caller.call(User, "server.set_user_disabled",
                                 path={"name": name}, body={"disabled": disabled})

    def create_api_key(self, user: str, description: str = "") -> NewApiKey:
        return self._caller.call(NewApiKey, "server.create_api_key",
                                 body={"user": user, "description": description})

    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        return self._caller.call(list[ApiKey], "server.list_api_keys",
                                 params={"user": user})

    def revoke_api_key(self, access_key: str) -> ApiKey:
        return self._caller.call(ApiKey, "server.revoke_api_key",
                                 path={"access_key": access_key})

    def list_audit_events(self, target_type: str | None = None, target_id: str | None = None,
                          limit: int = 100) -> list[AuditEvent]:
        """Newest first."""
        return self._caller.call(
            list[AuditEvent], "server.list_audit_events",
            params={"target_type": target_type, "target_id": target_id, "limit": limit})
