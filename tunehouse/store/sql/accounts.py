"""The SQL implementation of :class:`~tunehouse.store.accounts.AccountStore`.

Each account area is its own object over the one
:class:`~tunehouse.store.sql.database.Database` of a :class:`~tunehouse.store.sql.SqlStore`:
``users`` and ``keys`` (:mod:`.users`), ``roles`` (:mod:`.roles`), ``audit``
(:mod:`.audit`), ``preferences`` (:mod:`.preferences`), ``throttle`` and ``sessions``
(:mod:`.sign_in`). Every change is audited in its own transaction, as the store's areas
are.
"""

from __future__ import annotations

from tunehouse.store.accounts import AccountStore
from tunehouse.store.clock import Clock, utc_now
from tunehouse.store.interfaces.users import PasswordHasher
from tunehouse.store.sql.audit import SqlAuditStore
from tunehouse.store.sql.database import NO_CONTEXT, AuditContext, Database
from tunehouse.store.sql.preferences import SqlPreferences
from tunehouse.store.sql.roles import SqlRoleStore
from tunehouse.store.sql.sign_in import SqlSessionStore, SqlThrottleStore
from tunehouse.store.sql.store import SqlStore
from tunehouse.store.sql.users import SqlApiKeyStore, SqlUserStore

__all__ = ["SqlAccountStore"]


class SqlAccountStore(AccountStore):
    """The account areas on the database of a :class:`~tunehouse.store.sql.SqlStore`.

    Args:
        db: The database (``SqlStore.db``): the same engine and connection pool.
        user: The acting user: the author of what it creates and of its audit entries,
            the owner of the preferences it reads and writes.
        hasher: How passwords are hashed and checked (the server's policy).
        clock: The time of everything it writes and of every timeout it checks.
        context: Who acted for ``user`` and from where (written on audit entries).
    """

    users: SqlUserStore
    keys: SqlApiKeyStore
    roles: SqlRoleStore
    audit: SqlAuditStore
    preferences: SqlPreferences
    throttle: SqlThrottleStore
    sessions: SqlSessionStore

    def __init__(self, db: Database, user: str, hasher: PasswordHasher,
                 clock: Clock = utc_now, context: AuditContext = NO_CONTEXT) -> None:
        self.db = db
        self._user = user
        self.hasher = hasher
        self.clock = clock
        self.context = context
        self.users = SqlUserStore(db, user, hasher, context=context, clock=clock)
        self.keys = SqlApiKeyStore(db, user, context=context, clock=clock)
        self.roles = SqlRoleStore(db, user, context=context, clock=clock)
        self.audit = SqlAuditStore(db, user, context=context, clock=clock)
        self.preferences = SqlPreferences(db, user, context=context, clock=clock)
        self.throttle = SqlThrottleStore(db, user, context=context, clock=clock)
        self.sessions = SqlSessionStore(db, user, context=context, clock=clock)

    @classmethod
    def of(cls, store: SqlStore, hasher: PasswordHasher, user: str | None = None,
           clock: Clock = utc_now) -> SqlAccountStore:
        """The accounts on ``store``'s database, acting as ``user`` (default: the store's)
        with the store's audit context."""
        return cls(store.db, user or store.user, hasher, clock, store.context)

    @property
    def user(self) -> str:
        return self._user

    def with_user(self, user: str) -> SqlAccountStore:
        return SqlAccountStore(self.db, user, self.hasher, self.clock, self.context)

    def with_context(self, actor: str | None = None, client: str | None = None
                     ) -> SqlAccountStore:
        return SqlAccountStore(self.db, self._user, self.hasher, self.clock,
                               AuditContext(actor=actor or None, client=client or None))
