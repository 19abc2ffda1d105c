"""The ``users`` and ``keys`` areas on SQL (:mod:`tunehouse.store.interfaces.users`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from tunehouse.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from tunehouse.store import schema as t
from tunehouse.store.clock import Clock, utc_now
from tunehouse.store.interfaces.users import (
    ATTEMPT_KEY_GRACE_S,
    BAD_PASSWORD,
    LDAP_PASSWORD_HASH,
    MAX_PASSWORD_LENGTH,
    ApiKeyStore,
    PasswordHasher,
    UserStore,
)
from tunehouse.store.records import ApiKey, NewApiKey, TaskStatus, User
from tunehouse.store.sql.database import (
    NO_CONTEXT,
    AuditContext,
    Database,
    DbRow,
    SqlArea,
    check_name,
)
from tunehouse.store.status import TERMINAL

#: A key's ``last_used`` is written at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)
USER_NAME_MAX = 64
BAD_KEY = "invalid or revoked API key"
TERMINAL_VALUES = frozenset(status.value for status in TERMINAL)


def new_access_key() -> str:
    """``TH`` + 20 base32 characters."""
    return "TH" + base64.b32encode(secrets.token_bytes(15)).decode("ascii")[:20]


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def user_from_row(row: DbRow) -> User:
    return User(name=row.name, admin=row.admin, agent=row.agent, source=row.source,
                disabled=row.disabled, created=row.created)


def _api_key(row: DbRow) -> ApiKey:
    return ApiKey(access_key=row.access_key, user=row.user, description=row.description,
                  revoked=row.revoked, created=row.created, last_used=row.last_used,
                  task_id=row.task_id, attempt=row.attempt)


class SqlUserStore(SqlArea, UserStore):
    """User accounts; passwords hashed and checked by ``hasher``."""

    def __init__(self, db: Database, user: str, hasher: PasswordHasher,
                 context: AuditContext = NO_CONTEXT, clock: Clock = utc_now) -> None:
        super().__init__(db, user, context=context, clock=clock)
        self._hasher = hasher

    def create_user(self, name: str, password: str, admin: bool = False,
                    agent: bool = False) -> User:
        check_name("user", name, max_length=USER_NAME_MAX, simple=True)
        if not password or len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidInput(f"the password must be 1 to {MAX_PASSWORD_LENGTH} characters")
        password_hash = self._hasher.hash(password)
        with self._write() as conn:
            if conn.execute(sa.select(t.users.c.name).where(t.users.c.name == name)).first():
                raise Conflict(f"user {name!r} already exists")
            conn.execute(sa.insert(t.users).values(
                name=name, password_hash=password_hash, admin=admin, agent=agent,
                disabled=False, source="local", created_by=self.user, created=self._clock()))
            self._audit(conn, "user.create", "user", name, {"admin": admin, "agent": agent})
            return user_from_row(conn.execute(
                sa.select(t.users).where(t.users.c.name == name)).one())

    def get_user(self, name: str) -> User:
        with self._read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        if row is None:
            raise NotFound(f"user {name!r} not found")
        return user_from_row(row)

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.users).order_by(t.users.c.name)).all()
        return [user_from_row(row) for row in rows]

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        with self._write() as conn:
            done = conn.execute(sa.update(t.users).where(t.users.c.name == name)
                                .values(disabled=disabled)).rowcount
            if not done:
                raise NotFound(f"user {name!r} not found")
            if disabled:
                conn.execute(sa.delete(t.sessions).where(t.sessions.c.user == name))
            self._audit(conn, "user.disable" if disabled else "user.enable", "user", name, None)
            return user_from_row(conn.execute(
                sa.select(t.users).where(t.users.c.name == name)).one())

    def verify_password(self, name: str, password: str) -> User:
        with self._read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        local = row.password_hash if row is not None and row.source == "local" else None
        matches = self._hasher.verify(local, password)
        if row is None or local is None or not matches or row.disabled:
            raise AuthenticationFailed(BAD_PASSWORD)
        return user_from_row(row)

    def save_ldap_user(self, name: str, admin: bool | None) -> User | None:
        check_name("user", name, max_length=USER_NAME_MAX, simple=True)
        users = t.users
        with self._write() as conn:
            # RETURNING, not rowcount: psycopg answers -1 for INSERT ... ON CONFLICT
            created = conn.execute(self._insert(users).values(
                name=name, password_hash=LDAP_PASSWORD_HASH, admin=bool(admin), agent=False,
                disabled=False, source="ldap", created_by=self.user, created=self._clock(),
            ).on_conflict_do_nothing(index_elements=["name"]).returning(users.c.name)).first()
            if created is not None:
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
            return user_from_row(row)


class SqlApiKeyStore(SqlArea, ApiKeyStore):
    """API keys; secrets kept as their SHA-256."""

    def create_api_key(self, user: str, description: str = "",
                       for_attempt: tuple[str, int] | None = None) -> NewApiKey:
        access_key = new_access_key()
        secret = secrets.token_urlsafe(32)
        task_id, attempt = for_attempt if for_attempt is not None else (None, None)
        with self._write() as conn:
            owner = conn.execute(sa.select(t.users.c.disabled)
                                 .where(t.users.c.name == user)).first()
            if owner is None:
                raise NotFound(f"user {user!r} not found")
            if owner.disabled:
                raise InvalidInput(f"user {user!r} is disabled: enable it before making "
                                   "keys for it")
            if for_attempt is not None:
                _check_running_attempt(conn, user, *for_attempt)
            conn.execute(sa.insert(t.api_keys).values(
                access_key=access_key, secret_hash=secret_digest(secret), user=user,
                description=description, revoked=False, created_by=self.user,
                created=self._clock(), last_used=None, task_id=task_id, attempt=attempt))
            details: dict[str, object] = {"user": user, "description": description[:200]}
            if for_attempt is not None:
                details.update(task_id=task_id, attempt=attempt)
            self._audit(conn, "key.create", "api_key", access_key, details)
        return NewApiKey(access_key=access_key, secret_key=secret, user=user)

    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        query = sa.select(t.api_keys).order_by(t.api_keys.c.user, t.api_keys.c.created)
        if user is not None:
            query = query.where(t.api_keys.c.user == user)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_api_key(row) for row in rows]

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

    def key_created_by(self, access_key: str) -> str | None:
        query = sa.select(t.api_keys.c.created_by).where(t.api_keys.c.access_key == access_key)
        with self._read() as conn:
            creator = conn.execute(query).scalar_one_or_none()
        return None if creator is None else str(creator)

    def authenticate_key(self, access_key: str, secret_key: str,
                         on_wrong_secret: Callable[[], None] | None = None) -> User:
        row = self._key_row(access_key)
        expected = row.secret_hash if row is not None else secret_digest(secrets.token_hex(16))
        matches = hmac.compare_digest(expected, secret_digest(secret_key))
        if (row is None or not matches) and on_wrong_secret is not None:
            on_wrong_secret()
        if row is None or not matches or row.revoked or row.disabled:
            raise AuthenticationFailed(BAD_KEY)
        now = self._clock()
        user = self._key_user(row, now)
        if row.last_used is None or now - row.last_used >= LAST_USED_RESOLUTION:
            with self._write() as conn:
                conn.execute(sa.update(t.api_keys).where(t.api_keys.c.access_key == access_key)
                             .values(last_used=now))
        return user

    def check_key(self, access_key: str) -> User:
        row = self._key_row(access_key)
        if row is None or row.revoked or row.disabled:
            raise AuthenticationFailed(BAD_KEY)
        return self._key_user(row, self._clock())

    def _key_row(self, access_key: str) -> DbRow | None:
        query = (sa.select(t.api_keys.c.secret_hash, t.api_keys.c.revoked,
                           t.api_keys.c.last_used, t.api_keys.c.task_id,
                           t.api_keys.c.attempt, t.api_keys.c.created_by, t.users)
                 .join(t.users, t.users.c.name == t.api_keys.c.user)
                 .where(t.api_keys.c.access_key == access_key))
        with self._read() as conn:
            return conn.execute(query).first()

    def _key_user(self, row: DbRow, now: datetime) -> User:
        """The user of a key found valid so far; AuthenticationFailed when it was made
        for an attempt that is over."""
        user = user_from_row(row)
        if row.task_id is not None:
            self._check_attempt_key(row.task_id, row.attempt, now)
            if user.admin and row.created_by != user.name and not self._is_admin(row.created_by):
                # made by an agent account: the owner's roles, never admin rights the
                # agent lacks (as when it acts for the owner)
                user = user.model_copy(update={"admin": False})
        return user

    def _is_admin(self, name: str) -> bool:
        query = sa.select(t.users.c.admin).where(t.users.c.name == name)
        with self._read() as conn:
            return bool(conn.execute(query).scalar_one_or_none())

    def _check_attempt_key(self, task_id: str, attempt: int, now: datetime) -> None:
        """AuthenticationFailed unless attempt ``attempt`` of ``task_id`` still runs (or
        ended less than ATTEMPT_KEY_GRACE_S ago)."""
        query = (sa.select(t.tasks.c.status, t.tasks.c.attempt, t.tasks.c.completed)
                 .where(t.tasks.c.id == task_id))
        with self._read() as conn:
            task = conn.execute(query).first()
        if task is not None and task.attempt == attempt:
            if task.status == TaskStatus.in_progress.value:
                return
            if (task.status in TERMINAL_VALUES and task.completed is not None
                    and now - task.completed <= timedelta(seconds=ATTEMPT_KEY_GRACE_S)):
                return
        raise AuthenticationFailed(f"this key was made for attempt {attempt} of task "
                                   f"{task_id}, which is over")


def _check_running_attempt(conn: sa.Connection, user: str, task_id: str, attempt: int) -> None:
    """InvalidInput unless ``task_id`` is ``user``'s task running its attempt ``attempt``."""
    task = conn.execute(sa.select(t.tasks.c.user, t.tasks.c.status, t.tasks.c.attempt)
                        .where(t.tasks.c.id == task_id)).first()
    if task is None or task.user != user or task.status != TaskStatus.in_progress.value \
            or task.attempt != attempt:
        raise InvalidInput(f"a key for an attempt needs a running task of {user!r}: task "
                           f"{task_id} attempt {attempt} is not one")
