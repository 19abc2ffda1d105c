"""Users and their API keys.

Two interfaces per area: the operations an admin (or a user, for its own keys) reaches
over HTTP (:class:`Users`, :class:`ApiKeys`: implemented by the SQL store and by the HTTP
client), and :class:`UserStore`, :class:`ApiKeyStore`, which add the operations only a
process holding the database may call: checking a password or a key. No route exposes
those, so the SDK and the HTTP client can never check another user's password.

Passwords are hashed by a :class:`PasswordHasher` the store is given (the server's is
argon2, :mod:`tunehouse.server.accounts`): how passwords are hashed is the server's
policy, keeping the hashes is the store's. API secrets are 256-bit random strings made
by the store and kept as their SHA-256 (a slow hash would add latency to every request
and protect nothing more).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Protocol

from tunehouse.store.records import ApiKey, NewApiKey, User

#: The longest password accepted.
MAX_PASSWORD_LENGTH = 1024
#: The password hash of LDAP users: no password hasher accepts it, so no local password
#: matches it (the directory checks theirs).
LDAP_PASSWORD_HASH = "!ldap"
#: What every refused password sign-in says, whatever the reason (unknown name, wrong
#: password, disabled user), so a refusal tells nothing about the account.
BAD_PASSWORD = "invalid user name or password"


class PasswordHasher(Protocol):
    """How passwords are hashed and checked (the server's policy, given to the store)."""

    def hash(self, password: str) -> str:
        """The hash to keep for ``password``."""

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``. With None (no such user, or no
        local password) it takes as long as a real check and answers False, so a name's
        existence cannot be told from the time a refusal takes."""


class Users(abc.ABC):
    """User accounts: admins manage them (over HTTP: ``/users``).

    Contract: names are 1 to 64 characters of ``[A-Za-z0-9_.@+-]`` starting with a letter
    or a digit (InvalidInput); a name is taken once (Conflict); a missing user is
    NotFound. Creating, disabling and enabling are audited (``user.create``,
    ``user.disable``, ``user.enable``) in the transaction of the change.
    """

    @abc.abstractmethod
    def create_user(self, name: str, password: str, admin: bool = False,
                    agent: bool = False) -> User:
        """A local user with ``password`` (1 to :data:`MAX_PASSWORD_LENGTH` characters);
        ``agent``: an agent's account, which may act for other users."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User: ...

    @abc.abstractmethod
    def list_users(self) -> list[User]:
        """Every user, by name."""

    @abc.abstractmethod
    def set_user_disabled(self, name: str, disabled: bool) -> User:
        """Disable (or enable) a user. Disabling ends all their web sessions in the same
        transaction; their API keys are refused while they are disabled (and work again
        once enabled, unless revoked)."""


class UserStore(Users):
    """:class:`Users` plus what only the database's holder may do (never over HTTP)."""

    @abc.abstractmethod
    def verify_password(self, name: str, password: str) -> User:
        """Store-only. The local, enabled user ``name`` when ``password`` is theirs; else
        AuthenticationFailed with one message for every reason (unknown name, wrong
        password, disabled, not a local user), and as slow for each. Not audited: the
        server audits sign-ins (it also signs LDAP users in)."""

    @abc.abstractmethod
    def save_ldap_user(self, name: str, admin: bool | None) -> User | None:
        """Store-only. The LDAP user ``name`` once the directory accepted its password:
        created on its first sign-in (``source`` ``ldap``, :data:`LDAP_PASSWORD_HASH`),
        its admin flag set to ``admin`` (None: left as it is; False for a new user),
        audited ``user.create``/``user.update``. None when it may not sign in: disabled,
        or the name is a local user's (which LDAP never takes over)."""


#: How long a key made for an attempt keeps working after the attempt ended.
ATTEMPT_KEY_GRACE_S = 60.0


class ApiKeys(abc.ABC):
    """API keys (over HTTP: ``/keys``): an access key (``TH`` + 20 characters, not
    secret) and a secret shown once. Creating and revoking are audited (``key.create``,
    ``key.revoke``, naming the key's user)."""

    @abc.abstractmethod
    def create_api_key(self, user: str, description: str = "",
                       for_attempt: tuple[str, int] | None = None) -> NewApiKey:
        """A new key of ``user`` (NotFound when there is no such user, InvalidInput when
        it is disabled), created by the acting user; the answer holds the secret, which is
        never shown again.

        ``for_attempt``: ``(task id, attempt)`` of a running task of ``user``; the key
        works only while that attempt runs (and for :data:`ATTEMPT_KEY_GRACE_S` after it
        ended, for the process's last words), InvalidInput when it is not running."""

    @abc.abstractmethod
    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        """Keys (of ``user`` only, when given), by user then age; never their secrets."""

    @abc.abstractmethod
    def revoke_api_key(self, access_key: str) -> ApiKey:
        """Revoke a key for good (NotFound when there is none)."""


class ApiKeyStore(ApiKeys):
    """:class:`ApiKeys` plus what only the database's holder may do (never over HTTP)."""

    @abc.abstractmethod
    def authenticate_key(self, access_key: str, secret_key: str,
                         on_wrong_secret: Callable[[], None] | None = None) -> User:
        """Store-only. The user of a valid, unrevoked key of an enabled user; else
        AuthenticationFailed (one message for every reason; a key made for an attempt that
        is over says so). A key an agent account made for an admin's attempt carries the
        admin's project roles, not admin rights (``User.admin`` is False). The secret is compared in
        constant time; the key's ``last_used`` is written at most once a minute.

        ``on_wrong_secret`` (the server's brute-force throttle) is called before the error
        is raised when the access key is unknown or the secret does not match: not for a
        revoked key or a disabled user presented with the right secret. It may raise an
        error of its own instead (429).
        """

    @abc.abstractmethod
    def check_key(self, access_key: str) -> User:
        """Store-only. The user of ``access_key`` while the key still works (unrevoked, its
        user enabled, its attempt not over), without its secret: for a token made from a
        key checked with its secret before (the ClearML API's). AuthenticationFailed
        else; a key an agent account made for an admin's attempt carries no admin rights,
        as in :meth:`authenticate_key`."""

    @abc.abstractmethod
    def key_created_by(self, access_key: str) -> str | None:
        """Store-only. Who created the key ``access_key`` (None: no such key)."""
