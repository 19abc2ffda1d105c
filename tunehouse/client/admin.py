"""The server's own operations over HTTP: users, API keys, project roles and the audit log.

For admin tools and tests; the SDK never needs them. The CLI's ``users`` and ``keys``
commands open the database directly instead (:mod:`tunehouse.server.accounts`); its
``projects grant|revoke|access`` use this client when a server is set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tunehouse.client.transport import Caller, Connection
from tunehouse.store.records import ApiKey, AuditEvent, Lockout, NewApiKey, User


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

    def list_lockouts(self, every: bool = False) -> list[Lockout]:
        """Keys locked now by failed sign-ins or key checks, the latest first (admins
        only); ``every``: every key with counted failures, locked or not."""
        return self._caller.call(list[Lockout], "server.list_lockouts",
                                 params={"every": "true" if every else None})

    def clear_lockout(self, key: str) -> Lockout:
        """Unlock ``key`` (``user:alice``, ``addr:10.0.0.7``, ``key:TH...``) and forget its
        failures; returns what was counted (NotFound when nothing was)."""
        return self._caller.call(Lockout, "server.clear_lockout", path={"key": key})

    def create_user(self, name: str, password: str, admin: bool = False,
                    agent: bool = False) -> User:
        """A local user; ``agent``: an agent's account, which may act for other users."""
        return self._caller.call(User, "server.create_user",
                                 body={"name": name, "password": password, "admin": admin,
                                       "agent": agent})

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

    def list_access(self, project: str) -> list[dict[str, Any]]:
        """Who has a role of their own on ``project`` (name or id): ``user``, ``role``,
        ``inherited_from`` (the parent project it comes from, or null), ``granted_by``
        (null for a creator) and ``created``."""
        return self._caller.call(list[dict[str, Any]], "server.list_access",
                                 path={"project": project})

    def grant_role(self, project: str, user: str, role: str) -> dict[str, Any]:
        """Give ``user`` ``role`` (viewer, editor, owner) on ``project`` (needs owner)."""
        return self._caller.call(dict[str, Any], "server.grant_role",
                                 path={"project": project, "user": user}, body={"role": role})

    def revoke_role(self, project: str, user: str) -> None:
        """Take back the role granted to ``user`` on ``project`` itself (needs owner)."""
        self._caller.send("server.revoke_role", path={"project": project, "user": user})

    def list_audit_events(self, target_type: str | None = None, target_id: str | None = None,
                          limit: int = 100, *, user: str | None = None,
                          actor: str | None = None, action: str | None = None,
                          since: datetime | None = None, until: datetime | None = None,
                          after_id: int | None = None,
                          oldest_first: bool = False) -> list[AuditEvent]:
        """Audit entries (admins only), newest first unless ``oldest_first``; the filters
        and paging of :meth:`tunehouse.server.accounts.Accounts.list_audit_events`."""
        params = {"target_type": target_type, "target_id": target_id, "limit": limit,
                  "user": user, "actor": actor, "action": action,
                  "since": since.isoformat() if since else None,
                  "until": until.isoformat() if until else None, "after_id": after_id,
                  "oldest_first": "true" if oldest_first else None}
        return self._caller.call(list[AuditEvent], "server.list_audit_events", params=params)
