"""Accounts: users, passwords, API keys, the audit log and each user's preferences, on
the server's database.

Only the server (and the CLI's admin commands, which open the database directly) use
this module: the SDK and the HTTP client never see password or key verification, and no
route lets a client write an audit entry. Audit entries are written by the server itself
(:meth:`Accounts.record`) and by the store, inside the transaction of the change they
describe.

Passwords are hashed with argon2. API secrets are long random strings, so a fast hash
(sha256) protects them as well as argon2 would while keeping each authenticated request
cheap; they are compared in constant time. Users whose ``source`` is ``ldap`` have no
local password (:data:`LDAP_PASSWORD_HASH`): the directory checks theirs
(:mod:`tunehouse.server.ldap_auth`, when the server has LDAP sign-in on).

Preferences are JSON documents a user keeps on the server under a key (at most 64 KiB
each; the web UI's dashboard of a project is ``dashboard:<project id>``, a list of
:class:`DashboardPin`); only the acting user's own are read and written.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field, TypeAdapter, ValidationError, field_validator

from tunehouse.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from tunehouse.store import schema as t
from tunehouse.store.records import ApiKey, AuditEvent, Input, NewApiKey, User
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.database import AuditContext, DbRow, SqlArea, check_name, utcnow
from tunehouse.store.sql.task_columns import METRIC_PREFIX, MetricColumn, parse_column

if TYPE_CHECKING:
    from tunehouse.server.ldap_auth import LdapSignIn

LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_PASSWORD_LENGTH = 1024
_hasher = PasswordHasher()
_BAD_PASSWORD = "invalid user name or password"
_BAD_KEY = "invalid or revoked API key"
#: The password hash of LDAP users: not an argon2 hash, so no local password matches it.
LDAP_PASSWORD_HASH = "!ldap"
_DUMMY_HASH: str | None = None


def new_access_key() -> str:
    """``TH`` + 20 base32 characters."""
    return "TH" + base64.b32encode(secrets.token_bytes(15)).decode("ascii")[:20]


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so that they take as long as known ones."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


#: A preference's value is at most this many bytes of JSON.
PREFERENCE_MAX_BYTES = 64 * 1024
_PREFERENCE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,254}$")
#: Preference keys of the web UI's project dashboards: ``dashboard:<project id>``.
DASHBOARD_PREFIX = "dashboard:"
DASHBOARD_MAX_PINS = 50
#: Chart kinds of a dashboard pin: one point per task of the project (a summary value of
#: a metric against the task's creation time), or the latest value per running task.
PinKind = Literal["metric_over_time", "running_latest"]
PIN_KINDS: tuple[str, ...] = get_args(PinKind)
METRIC_SYNTAX = f"{METRIC_PREFIX}<title>/<series>[:last|:min|:max]"


class DashboardPin(Input):
    """One chart pinned on a project dashboard: ``spec`` is a metric column spec."""

    kind: PinKind
    spec: str = Field(min_length=1, max_length=600)
    title: str = Field(default="", max_length=200)

    @field_validator("spec")
    @classmethod
    def _metric_column(cls, spec: str) -> str:
        try:
            column = parse_column(spec)
        except InvalidInput:
            column = None
        if not isinstance(column, MetricColumn):
            raise ValueError(f"{spec!r} is not a metric column: use {METRIC_SYNTAX}")
        return spec.strip()


DashboardPins = Annotated[list[DashboardPin], Field(max_length=DASHBOARD_MAX_PINS)]
_DASHBOARD_PINS: TypeAdapter[list[DashboardPin]] = TypeAdapter(DashboardPins)


def _dashboard_value(value: Any) -> Any:
    pins = _DASHBOARD_PINS.validate_python(value)
    return [pin.model_dump() for pin in pins]


#: What the value of a key with each prefix must be: a check returning the value to store.
PREFERENCE_CHECKS: dict[str, Callable[[Any], Any]] = {DASHBOARD_PREFIX: _dashboard_value}


def check_preference_key(key: str) -> str:
    """``key`` when it is a valid preference key; else InvalidInput."""
    if not isinstance(key, str) or not _PREFERENCE_KEY.match(key):
        raise InvalidInput(f"invalid preference key {str(key)[:80]!r}: 1 to 255 letters, "
                           "digits, '_', '.', ':', '@', '+' or '-', starting with a letter "
                           "or digit")
    return key


def check_preference(key: str, value: Any) -> Any:
    """``value`` as stored under ``key``; InvalidInput naming the problem when the key is
    malformed, the value is not JSON, too large, or not what keys like this one hold."""
    check_preference_key(key)
    for prefix, check in PREFERENCE_CHECKS.items():
        if key.startswith(prefix):
            try:
                value = check(value)
            except ValidationError as exc:
                raise InvalidInput(f"invalid value of preference {key!r}: "
                                   + _problems(exc)) from None
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the value of preference {key!r} is not JSON: {exc}") from None
    if size > PREFERENCE_MAX_BYTES:
        raise InvalidInput(f"the value of preference {key!r} is {size} bytes of JSON; at "
                           f"most {PREFERENCE_MAX_BYTES} are kept")
    return value


def _problems(exc: ValidationError) -> str:
    """``value[0].kind: Input should be ...`` for each (of the first five) problems."""
    errors = exc.errors(include_input=False)
    parts = []
    for error in errors[:5]:
        where = "value" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                  for p in error["loc"])
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _utc(moment: datetime) -> datetime:
    """``moment`` with a time zone (UTC when it has none)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _user(row: DbRow) -> User:
    return User(name=row.name, admin=row.admin, agent=row.agent, source=row.source,
                disabled=row.disabled, created=row.created)


def _api_key(row: DbRow) -> ApiKey:
    return ApiKey(access_key=row.access_key, user=row.user, description=row.description,
                  revoked=row.revoked, created=row.created, last_used=row.last_used)


class Accounts(SqlArea):
    """Users, API keys, the audit log and preferences, acting as ``user`` (recorded as the
    author of the users, keys and audit entries it creates; the owner of the preferences
    it reads and writes).

    Args:
        db: The database (``SqlStore.db``).
        user: The acting user.
    """

    #: LDAP sign-in (:mod:`tunehouse.server.ldap_auth`), set by the server when
    #: TUNEHOUSE_LDAP_URL is set; every view (with_user, with_context) keeps it.
    ldap: LdapSignIn | None = None

    @classmethod
    def of(cls, store: SqlStore, user: str | None = None) -> Accounts:
        """The accounts on ``store``'s database, acting as ``user`` (default: the store's),
        with the store's audit context."""
        return cls(store.db, user or store.user, context=store.context)

    def with_user(self, user: str) -> Accounts:
        """The same accounts acting as ``user`` (same audit context)."""
        accounts = Accounts(self._db, user, context=self.context)
        accounts.ldap = self.ldap
        return accounts

    def with_context(self, actor: str | None = None, client: str | None = None) -> Accounts:
        """The same accounts, their audit entries naming ``actor`` (the authenticated user
        acting for this one) and ``client`` (the request's client address)."""
        accounts = Accounts(self._db, self.user, context=AuditContext(actor=actor or None,
                                                                      client=client or None))
        accounts.ldap = self.ldap
        return accounts

    def create_user(self, name: str, password: str, admin: bool = False,
                    agent: bool = False) -> User:
        """A local user; ``agent``: an agent's account, which may act for other users."""
        check_name("user", name, max_length=64, simple=True)
        if not password or len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidInput(f"the password must be 1 to {MAX_PASSWORD_LENGTH} characters")
        password_hash = _hasher.hash(password)
        with self._write() as conn:
            if conn.execute(sa.select(t.users.c.name).where(t.users.c.name == name)).first():
                raise Conflict(f"user {name!r} already exists")
            conn.execute(sa.insert(t.users).values(
                name=name, password_hash=password_hash, admin=admin, agent=agent,
                disabled=False, source="local", created_by=self.user, created=utcnow()))
            self._audit(conn, "user.create", "user", name, {"admin": admin, "agent": agent})
            return _user(conn.execute(sa.select(t.users).where(t.users.c.name == name)).one())

    def get_user(self, name: str) -> User:
        with self._read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        if row is None:
            raise NotFound(f"user {name!r} not found")
        return _user(row)

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.users).order_by(t.users.c.name)).all()
        return [_user(row) for row in rows]

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        """Disable (or enable) a user; disabling ends all their web sessions in the same
        transaction (their API keys are refused too: every request looks the user up)."""
        with self._write() as conn:
            done = conn.execute(sa.update(t.users).where(t.users.c.name == name)
                                .values(disabled=disabled)).rowcount
            if not done:
                raise NotFound(f"user {name!r} not found")
            if disabled:
                conn.execute(sa.delete(t.sessions).where(t.sessions.c.user == name))
            self._audit(conn, "user.disable" if disabled else "user.enable", "user", name, None)
            return _user(conn.execute(sa.select(t.users).where(t.users.c.name == name)).one())

    def verify_password(self, name: str, password: str) -> User:
        """The user ``name`` when ``password`` is theirs; else AuthenticationFailed. Each
        attempt is audited on target ``user`` ``name`` with this view's client address:
        ``auth.login``, or ``auth.login_failed`` (``known_user``: whether the name exists;
        the reason stays the same for both, as the caller sees it)."""
        try:
            user = self._check_password(name, password)
        except AuthenticationFailed as exc:
            with self._write() as conn:
                known = conn.execute(sa.select(t.users.c.name)
                                     .where(t.users.c.name == name)).first() is not None
                self._audit(conn, "auth.login_failed", "user", name,
                            {"known_user": known, "reason": exc.message[:200]}, user=name)
            raise
        with self._write() as conn:
            self._audit(conn, "auth.login", "user", user.name, {"source": user.source},
                        user=user.name)
        return user

    def _check_password(self, name: str, password: str) -> User:
        """The user ``name`` when ``password`` is theirs (not audited)."""
        with self._read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        if row is None and self.ldap is not None or row is not None and row.source != "local":
            return self._check_ldap(name, password)
        try:
            _hasher.verify(row.password_hash if row is not None else _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            raise AuthenticationFailed(_BAD_PASSWORD) from None
        if row is None or row.disabled:
            raise AuthenticationFailed(_BAD_PASSWORD)
        return _user(row)

    def _check_ldap(self, name: str, password: str) -> User:
        """Sign-in of an LDAP user, or of an unknown name while LDAP is on: the directory
        checks the password (:meth:`LdapSignIn.sign_in`); ServerUnavailable when it
        cannot be reached. With LDAP off, LDAP users cannot sign in."""
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password)  # at least as long as a local check
        if self.ldap is None:
            raise AuthenticationFailed(_BAD_PASSWORD)
        user = self.ldap.sign_in(self, name, password)
        if user is None:
            raise AuthenticationFailed(_BAD_PASSWORD)
        return user

    def save_ldap_user(self, name: str, admin: bool | None) -> User | None:
        """The LDAP user ``name`` once the directory accepted its password: created on its
        first sign-in (``source`` ``ldap``, :data:`LDAP_PASSWORD_HASH`), its admin flag
        set to ``admin`` (None: left as it is; False for a new user). None when it may not
        sign in: disabled, or the name is a local user's (which LDAP never takes over)."""
        check_name("user", name, max_length=64, simple=True)
        users = t.users
        with self._write() as conn:
            created = conn.execute(self._insert(users).values(
                name=name, password_hash=LDAP_PASSWORD_HASH, admin=bool(admin), agent=False,
                disabled=False, source="ldap", created_by=self.user, created=utcnow(),
            ).on_conflict_do_nothing(index_elements=["name"])).rowcount
            if created:
                self._audit(conn, "user.create", "user", name,
                            {"admin": bool(admin), "agent": False, "source": "ldap"})
            row = conn.execute(sa.select(users).where(users.c.name == name)).one()
            if row.source != "ldap" or row.disabled:
                return None
            if admin is not None and row.admin != admin:
                conn.execute(sa.update(users).where(users.c.name == name).values(admin=admin))
                self._audit(conn, "user.update", "user", name,
                            {"admin": admin, "source": "ldap"})
                row = conn.execute(sa.select(users).where(users.c.name == name)).one()
            return _user(row)

    # ------------------------------------------------------------ api keys
    def create_api_key(self, user: str, description: str = "") -> NewApiKey:
        access_key = new_access_key()
        secret = secrets.token_urlsafe(32)
        with self._write() as conn:
            if not conn.execute(sa.select(t.users.c.name).where(t.users.c.name == user)).first():
                raise NotFound(f"user {user!r} not found")
            conn.execute(sa.insert(t.api_keys).values(
                access_key=access_key, secret_hash=secret_digest(secret), user=user,
                description=description, revoked=False, created_by=self.user,
                created=utcnow(), last_used=None))
            self._audit(conn, "key.create", "api_key", access_key,
                        {"user": user, "description": description[:200]})
        return NewApiKey(access_key=access_key, secret_key=secret, user=user)

    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        query = sa.select(t.api_keys).order_by(t.api_keys.c.user, t.api_keys.c.created)
        if user is not None:
            query = query.where(t.api_keys.c.user == user)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_api_key(row) for row in rows]

    def key_created_by(self, access_key: str) -> str | None:
        """The user who created the key ``access_key`` (None: no such key)."""
        query = sa.select(t.api_keys.c.created_by).where(t.api_keys.c.access_key == access_key)
        with self._read() as conn:
            creator = conn.execute(query).scalar_one_or_none()
        return None if creator is None else str(creator)

    def revoke_api_key(self, access_key: str) -> ApiKey:
        with self._write() as conn:
            done = conn.execute(sa.update(t.api_keys).where(t.api_keys.c.access_key == access_key)
                                .values(revoked=True)).rowcount
            if not done:
                raise NotFound(f"API key {access_key!r} not found")
            key = _api_key(conn.execute(
                sa.select(t.api_keys).where(t.api_keys.c.access_key == access_key)).one())
            self._audit(conn, "key.revoke", "api_key", access_key, {"user": key.user})
            return key

    def authenticate_key(self, access_key: str, secret_key: str,
                         on_wrong_secret: Callable[[], None] | None = None) -> User:
        """The user of a valid, unrevoked key of an enabled user; else AuthenticationFailed.

        ``on_wrong_secret`` (the server's brute-force throttle) is called, before the
        error is raised, when the access key is unknown or the secret does not match: not
        for a revoked key or a disabled user presented with the right secret. It may raise
        an error of its own instead (429).
        """
        query = (sa.select(t.api_keys.c.secret_hash, t.api_keys.c.revoked,
                           t.api_keys.c.last_used, t.users)
                 .join(t.users, t.users.c.name == t.api_keys.c.user)
                 .where(t.api_keys.c.access_key == access_key))
        with self._read() as conn:
            row = conn.execute(query).first()
        expected = row.secret_hash if row is not None else secret_digest(secrets.token_hex(16))
        matches = hmac.compare_digest(expected, secret_digest(secret_key))
        if (row is None or not matches) and on_wrong_secret is not None:
            on_wrong_secret()
        if row is None or not matches or row.revoked or row.disabled:
            raise AuthenticationFailed(_BAD_KEY)
        now = utcnow()
        if row.last_used is None or now - row.last_used >= LAST_USED_RESOLUTION:
            with self._write() as conn:
                conn.execute(sa.update(t.api_keys).where(t.api_keys.c.access_key == access_key)
                             .values(last_used=now))
        return _user(row)

    # ------------------------------------------------------------ audit
    def record(self, action: str, target_type: str, target_id: str,
               details: dict[str, Any] | None = None) -> AuditEvent:
        """Write one audit entry by the acting user (server-side use only)."""
        for kind, value in (("action", action), ("target_type", target_type)):
            check_name(f"audit {kind}", value, max_length=64)
        check_name("audit target", target_id)
        with self._write() as conn:
            return self._audit(conn, action, target_type, target_id, details)

    def list_audit_events(self, target_type: str | None = None, target_id: str | None = None,
                          limit: int = 100, *, user: str | None = None,
                          actor: str | None = None, action: str | None = None,
                          since: datetime | None = None, until: datetime | None = None,
                          after_id: int | None = None,
                          oldest_first: bool = False) -> list[AuditEvent]:
        """Audit entries, newest first (``oldest_first``: oldest first), at most ``limit``.

        Filters (all optional, combined): ``user`` (made as), ``actor`` (made by, acting
        for another user), ``action`` (exact, or a prefix ending in ``*``: ``task.*``),
        ``target_type``/``target_id``, ``since`` (inclusive) and ``until`` (exclusive)
        times (naive times are UTC). ``after_id``: the next page, after the entry of that
        id (the last one of the previous page) in the listing's order.
        """
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000")
        c = t.audit_events.c
        query = (sa.select(t.audit_events)
                 .order_by(c.id.asc() if oldest_first else c.id.desc()).limit(limit))
        for column, value in ((c.target_type, target_type), (c.target_id, target_id),
                              (c.user, user), (c.actor, actor)):
            if value is not None:
                query = query.where(column == value)
        if action is not None:
            query = query.where(c.action.startswith(action[:-1], autoescape=True)
                                if action.endswith("*") else c.action == action)
        if since is not None:
            query = query.where(c.created >= _utc(since))
        if until is not None:
            query = query.where(c.created < _utc(until))
        if after_id is not None:
            query = query.where(c.id > after_id if oldest_first else c.id < after_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [AuditEvent(id=r.id, user=r.user, actor=r.actor, client=r.client,
                           action=r.action, target_type=r.target_type, target_id=r.target_id,
                           details=r.details, created=r.created) for r in rows]

    # ------------------------------------------------------------ preferences
    def get_preference(self, key: str) -> Any | None:
        """The acting user's value of preference ``key``; None when it has none."""
        check_preference_key(key)
        table = t.user_preferences
        with self._read() as conn:
            row = conn.execute(sa.select(table.c.value).where(
                table.c.user == self.user, table.c.key == key)).first()
        return None if row is None else row.value

    def set_preference(self, key: str, value: Any) -> Any:
        """Keep ``value`` (JSON, at most :data:`PREFERENCE_MAX_BYTES`) as the acting user's
        preference ``key``; None removes it. Returns the value as stored (checked by
        :func:`check_preference`)."""
        table = t.user_preferences
        if value is None:
            check_preference_key(key)
            with self._write() as conn:
                conn.execute(sa.delete(table).where(table.c.user == self.user,
                                                    table.c.key == key))
            return None
        value = check_preference(key, value)
        insert = self._insert(table).values(user=self.user, key=key, value=value,
                                            updated=utcnow())
        with self._write() as conn:
            conn.execute(insert.on_conflict_do_update(
                index_elements=["user", "key"],
                set_={"value": insert.excluded.value, "updated": insert.excluded.updated}))
        return value
