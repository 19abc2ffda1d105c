"""Accounts: one object that gives the account areas, kept apart from the
:class:`~tunehouse.store.base.Store` of tracked work.

The SDK opens a ``Store``; only the server, the CLI's admin commands and admin tools open
accounts, so a training script's store can neither check passwords nor read sessions.
Two levels:

* :class:`Accounts`, what is reachable over HTTP (admins manage users, keys, roles and
  lockouts and read the audit log; every user its own keys and preferences). Implemented
  by :class:`tunehouse.client.accounts.HttpAccounts` and by the SQL store below.
* :class:`AccountStore`, the database's: each area extended with its store-only
  operations (checking passwords, keys and sessions, counting failed sign-ins, writing
  audit entries, the lookups of permission checks), and the sessions. Implemented by
  :class:`tunehouse.store.sql.accounts.SqlAccountStore`.

The contract of :mod:`tunehouse.store.base` holds here too (thread-safe methods,
immutable records, the same exceptions whatever the backend, every change audited in its
own transaction). Policy is not the store's: how passwords are hashed (the
:class:`~tunehouse.store.interfaces.users.PasswordHasher` it is given), LDAP, when failures
delay or lock a key, and who may call what are the server's
(:mod:`tunehouse.server.accounts`, ``throttle``, ``permissions``). The store checks no
permission: whoever holds the database may do anything with it.
"""

from __future__ import annotations

import abc
from typing import Self

from tunehouse.store.interfaces import (
    ApiKeys,
    ApiKeyStore,
    AuditLog,
    AuditStore,
    Lockouts,
    Preferences,
    ProjectRoles,
    RoleStore,
    SessionStore,
    ThrottleStore,
    Users,
    UserStore,
)

__all__ = ["AccountStore", "Accounts"]


class Accounts(abc.ABC):
    """The account areas reachable over HTTP, acting as one user (the author of what it
    creates, the owner of the preferences it reads and writes)."""

    #: User accounts.
    users: Users
    #: API keys.
    keys: ApiKeys
    #: Project roles.
    roles: ProjectRoles
    #: The audit log.
    audit: AuditLog
    #: The acting user's preferences.
    preferences: Preferences
    #: Counters of failed sign-ins: lockouts.
    throttle: Lockouts

    @property
    @abc.abstractmethod
    def user(self) -> str:
        """The acting user."""

    @abc.abstractmethod
    def with_user(self, user: str) -> Accounts:
        """A view of the same accounts acting as ``user`` (closing it releases nothing)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the accounts must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AccountStore(Accounts):
    """The account areas of the database, with their store-only operations."""

    users: UserStore
    keys: ApiKeyStore
    roles: RoleStore
    audit: AuditStore
    preferences: Preferences
    throttle: ThrottleStore
    #: Web sessions.
    sessions: SessionStore

    @abc.abstractmethod
    def with_user(self, user: str) -> AccountStore: ...

    @abc.abstractmethod
    def with_context(self, actor: str | None = None, client: str | None = None
                     ) -> AccountStore:
        """The same accounts, their audit entries naming ``actor`` (the authenticated user
        when it acts for this view's user) and ``client`` (the request's address)."""
