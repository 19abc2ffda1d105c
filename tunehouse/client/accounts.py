"""The account areas over the server's JSON API: :class:`HttpAccounts`, one class per area
interface reachable over HTTP, each method one operation of
:data:`tunehouse.contract.ROUTES` (named ``<area>.<method>``).

For admins (users, keys of anyone, roles, lockouts, the audit log) and for every user's
own keys and preferences; what each caller may do is the server's to check. The
store-only operations (checking passwords, keys and sessions, counting failed sign-ins,
writing audit entries) have no route, so nothing here can reach them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tunehouse.client.api_client import ApiClient, configured_server
from tunehouse.client.transport import Caller, Connection
from tunehouse.settings import Settings
from tunehouse.store.accounts import Accounts
from tunehouse.store.interfaces import (
    ApiKeys,
    AuditLog,
    Lockouts,
    Preferences,
    ProjectRoles,
    Users,
)
from tunehouse.store.interfaces.roles import AccessEntry
from tunehouse.store.records import ApiKey, AuditEvent, Lockout, NewApiKey, User

__all__ = ["HttpAccounts"]


class _Area:
    def __init__(self, caller: Caller) -> None:
        self._caller = caller


class HttpUsers(_Area, Users):
    """User accounts through the server (admins)."""

    def create_user(self, name: str, password: str, admin: bool = False,
                    agent: bool = False) -> User:
        return self._caller.call(User, "users.create_user",
                                 body={"name": name, "password": password, "admin": admin,
                                       "agent": agent})

    def get_user(self, name: str) -> User:
        return self._caller.call(User, "users.get_user", path={"name": name})

    def list_users(self) -> list[User]:
        return self._caller.call(list[User], "users.list_users")

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        return self._caller.call(User, "users.set_user_disabled",
                                 path={"name": name}, body={"disabled": disabled})


class HttpApiKeys(_Area, ApiKeys):
    """API keys through the server: one's own, or (admins) anyone's."""

    def create_api_key(self, user: str, description: str = "",
                       for_attempt: tuple[str, int] | None = None) -> NewApiKey:
        body: dict[str, object] = {"user": user, "description": description}
        if for_attempt is not None:
            body.update(task_id=for_attempt[0], attempt=for_attempt[1])
        return self._caller.call(NewApiKey, "keys.create_api_key", body=body)

    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        return self._caller.call(list[ApiKey], "keys.list_api_keys", params={"user": user})

    def revoke_api_key(self, access_key: str) -> ApiKey:
        return self._caller.call(ApiKey, "keys.revoke_api_key",
                                 path={"access_key": access_key})


class HttpProjectRoles(_Area, ProjectRoles):
    """Project roles through the server (granting needs owner on the project)."""

    def list_access(self, project: str) -> list[AccessEntry]:
        return self._caller.call(list[AccessEntry], "roles.list_access",
                                 path={"project": project})

    def grant_role(self, project: str, user: str, role: str) -> AccessEntry:
        return self._caller.call(AccessEntry, "roles.grant_role",
                                 path={"project": project, "user": user}, body={"role": role})

    def revoke_role(self, project: str, user: str) -> bool:
        return self._caller.call(bool, "roles.revoke_role",
                                 path={"project": project, "user": user})


class HttpAuditLog(_Area, AuditLog):
    """The audit log through the server (admins)."""

    def list_audit_events(self, target_type: str | None = None, target_id: str | None = None,
                          limit: int = 100, *, user: str | None = None,
                          actor: str | None = None, action: str | None = None,
                          since: datetime | None = None, until: datetime | None = None,
                          after_id: int | None = None,
                          oldest_first: bool = False) -> list[AuditEvent]:
        params = {"target_type": target_type, "target_id": target_id, "limit": limit,
                  "user": user, "actor": actor, "action": action,
                  "since": since.isoformat() if since else None,
                  "until": until.isoformat() if until else None, "after_id": after_id,
                  "oldest_first": "true" if oldest_first else None}
        return self._caller.call(list[AuditEvent], "audit.list_audit_events", params=params)


class HttpPreferences(_Area, Preferences):
    """The acting user's preferences through the server."""

    def get_preference(self, key: str) -> Any | None:
        found = self._caller.call(dict[str, Any], "preferences.get_preference",
                                  path={"key": key})
        return found.get("value")

    def set_preference(self, key: str, value: Any) -> Any:
        kept = self._caller.call(dict[str, Any], "preferences.set_preference",
                                 path={"key": key}, body={"value": value})
        return kept.get("value")


class HttpLockouts(_Area, Lockouts):
    """Lockouts of failed sign-ins through the server (admins)."""

    def list_lockouts(self, every: bool = False, limit: int = 1000) -> list[Lockout]:
        return self._caller.call(list[Lockout], "throttle.list_lockouts",
                                 params={"every": "true" if every else None, "limit": limit})

    def clear_lockout(self, key: str) -> Lockout:
        return self._caller.call(Lockout, "throttle.clear_lockout", path={"key": key})


class HttpAccounts(ApiClient, Accounts):
    """The account areas of a tunehouse server, with an API key.

    Args:
        url: Base URL of the server.
        access_key: API access key.
        secret_key: API secret.
        timeout: Seconds to wait for any one request.
        act_as: The user to act for (``X-Tunehouse-User``; admins and agent accounts).
    """

    def __init__(self, url: str, access_key: str, secret_key: str, timeout: float = 60.0,
                 act_as: str | None = None) -> None:
        self._bind(Caller(Connection(url, access_key, secret_key, timeout), act_as=act_as),
                   owner=True)

    def _bind(self, caller: Caller, owner: bool) -> None:
        self._bind_caller(caller, owner)
        self.users = HttpUsers(caller)
        self.keys = HttpApiKeys(caller)
        self.roles = HttpProjectRoles(caller)
        self.audit = HttpAuditLog(caller)
        self.preferences = HttpPreferences(caller)
        self.throttle = HttpLockouts(caller)

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpAccounts:
        """The accounts of ``settings.server`` with the configured key.

        Raises:
            AuthenticationFailed: no access key / secret is configured.
        """
        return cls(*configured_server(settings, "an admin's key for managing accounts"))

    def with_user(self, user: str) -> HttpAccounts:
        view = object.__new__(HttpAccounts)
        view._bind(Caller(self._caller.conn, act_as=user), owner=False)
        return view
