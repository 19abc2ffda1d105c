"""The server's account policy: how passwords are hashed and checked, and how a sign-in
with a password is decided and audited.

The accounts themselves (users, keys, sessions, roles, the audit log, preferences, the
throttle's counters) are kept by the store (:mod:`tunehouse.store.accounts`,
:class:`~tunehouse.store.sql.accounts.SqlAccountStore`), which the server and the CLI's
admin commands open with :func:`open_accounts`. What stays here is policy:

* passwords are hashed with argon2 (:class:`Argon2Hasher`, the
  :class:`~tunehouse.store.interfaces.users.PasswordHasher` the store is given); a name
  nobody has costs a hash check too, so it cannot be told from a wrong password;
* :class:`SignIn` checks a user name and password: local users against their hash (in
  the store), LDAP users, and unknown names while LDAP is on, against the directory
  (:mod:`tunehouse.server.ldap_auth`), and audits each attempt (``auth.login``,
  ``auth.login_failed``). The throttle around it is :mod:`tunehouse.server.throttle`.

API secrets are long random strings, so the store keeps their SHA-256: as safe as
argon2 for them, and cheap on every authenticated request.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from tunehouse.errors import AuthenticationFailed, NotFound
from tunehouse.store.clock import Clock, utc_now
from tunehouse.store.interfaces.users import BAD_PASSWORD, PasswordHasher
from tunehouse.store.records import User
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.accounts import SqlAccountStore

if TYPE_CHECKING:
    from tunehouse.server.ldap_auth import LdapSignIn
    from tunehouse.store.accounts import AccountStore


class Argon2Hasher:
    """Passwords hashed with argon2id.

    The arguments are :class:`argon2.PasswordHasher`'s; the server uses the library's
    defaults (:data:`ARGON2`), tests cheaper ones where hashing is not what they test.
    """

    def __init__(self, time_cost: int = argon2.DEFAULT_TIME_COST,
                 memory_cost: int = argon2.DEFAULT_MEMORY_COST,
                 parallelism: int = argon2.DEFAULT_PARALLELISM) -> None:
        self._hasher = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                                             parallelism=parallelism)
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None:  # as long as a real check
            password_hash = self._dummy_hash()
            known = False
        else:
            known = True
        try:
            return self._hasher.verify(password_hash, password) and known
        except (VerificationError, InvalidHashError):
            return False

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy


#: The server's password hasher.
ARGON2 = Argon2Hasher()


def open_accounts(store: SqlStore, user: str | None = None, clock: Clock = utc_now,
                  hasher: PasswordHasher = ARGON2) -> SqlAccountStore:
    """The accounts on ``store``'s database with the server's password hashing (or
    ``hasher``), acting as ``user`` (default: the store's), their times from ``clock``."""
    return SqlAccountStore.of(store, hasher, user=user, clock=clock)


class SignIn:
    """Signing in with a user name and a password.

    Args:
        accounts: The accounts, with the request's audit context (its client address).
        ldap: LDAP sign-in when ``TUNEHOUSE_LDAP_URL`` is set, else None.
    """

    def __init__(self, accounts: AccountStore, ldap: LdapSignIn | None = None) -> None:
        self.accounts = accounts
        self.ldap = ldap

    def verify_password(self, name: str, password: str) -> User:
        """The user ``name`` when ``password`` is theirs; else AuthenticationFailed
        (ServerUnavailable when LDAP should decide and the directory cannot be reached).
        Each attempt is audited on target ``user`` ``name``: ``auth.login``, or
        ``auth.login_failed`` (``known_user``: whether the name exists; the reason is the
        same for both, as the caller sees it)."""
        audit = self.accounts.audit
        found = self._find(name)
        try:
            user = self._check(found, name, password)
        except AuthenticationFailed as exc:
            audit.record("auth.login_failed", "user", name,
                         {"known_user": found is not None,
                          "reason": exc.message[:200]}, user=name)
            raise
        audit.record("auth.login", "user", user.name, {"source": user.source}, user=user.name)
        return user

    def _find(self, name: str) -> User | None:
        try:
            return self.accounts.users.get_user(name)
        except NotFound:
            return None

    def _check(self, found: User | None, name: str, password: str) -> User:
        """The user ``name`` (``found``: as read before, None when unknown) when
        ``password`` is theirs (not audited)."""
        if (found is None and self.ldap is not None) or (found is not None
                                                         and found.source != "local"):
            return self._check_ldap(name, password)
        return self.accounts.users.verify_password(name, password)

    def _check_ldap(self, name: str, password: str) -> User:
        """Sign-in of an LDAP user, or of an unknown name while LDAP is on: the directory
        checks the password (:meth:`LdapSignIn.sign_in`); ServerUnavailable when it
        cannot be reached. With LDAP off, LDAP users cannot sign in."""
        ARGON2.verify(None, password)  # at least as long as a local check
        if self.ldap is None:
            raise AuthenticationFailed(BAD_PASSWORD)
        user = self.ldap.sign_in(self.accounts, name, password)
        if user is None:
            raise AuthenticationFailed(BAD_PASSWORD)
        return user
