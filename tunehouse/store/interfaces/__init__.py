"""The store's interfaces, one per area of records.

Each area is an abstract class with its own contract tests
(``tests/store/contract/test_<area>.py``) that run against SQLite, PostgreSQL and the HTTP
client. :class:`tunehouse.store.base.Store` gives one object holding the areas of tracked
work; :class:`tunehouse.store.accounts.Accounts` one holding the account areas.

===============  =========================================================================
area             records
===============  =========================================================================
``tasks``        projects, tasks and what a task is configured with: parameters,
                 configurations, script, environment; status changes; listing
``events``       scalars and console lines: batched ingest, summaries, downsampled reads
``artifacts``    content-addressed blobs and the artifacts of a task
``models``       the model registry: versions, tags, publishing, stage aliases
``queues``       queues, claims and workers
``users``        user accounts (store-only: checking a password, LDAP users)
``keys``         API keys (store-only: checking a key)
``roles``        project roles (store-only: the lookups of permission checks)
``audit``        the audit log (store-only: writing an entry)
``preferences``  each user's own JSON preferences
``throttle``     counters of failed sign-ins and key checks (store-only: counting)
``sessions``     web sessions (store-only, all of it)
===============  =========================================================================

``clearml_models`` (ClearML's model records) is an area of the SQL store only: the server
hands it to the ClearML API (``tests/store/test_clearml_models.py`` tests it).

An account area has two interfaces when part of it must never be reachable over HTTP:
the part admins (or users, for their own keys and preferences) reach, which the HTTP
client implements too (``Users``), and the database's (``UserStore``), which extends it
with the store-only operations.
"""

from tunehouse.store.interfaces.artifacts import ArtifactStore
from tunehouse.store.interfaces.audit import AuditLog, AuditStore
from tunehouse.store.interfaces.events import EventStore
from tunehouse.store.interfaces.models import ModelStore
from tunehouse.store.interfaces.preferences import Preferences
from tunehouse.store.interfaces.queues import QueueStore
from tunehouse.store.interfaces.roles import ProjectRoles, RoleStore
from tunehouse.store.interfaces.sign_in import Lockouts, SessionStore, ThrottleStore
from tunehouse.store.interfaces.tasks import TaskStore
from tunehouse.store.interfaces.users import ApiKeys, ApiKeyStore, Users, UserStore

#: Area name (the attribute of :class:`~tunehouse.store.base.Store`) -> interface.
AREAS: dict[str, type] = {
    "tasks": TaskStore,
    "events": EventStore,
    "artifacts": ArtifactStore,
    "models": ModelStore,
    "queues": QueueStore,
}

#: Account area (the attribute of :class:`~tunehouse.store.accounts.Accounts`) -> the
#: interface reachable over HTTP.
ACCOUNT_AREAS: dict[str, type] = {
    "users": Users,
    "keys": ApiKeys,
    "roles": ProjectRoles,
    "audit": AuditLog,
    "preferences": Preferences,
    "throttle": Lockouts,
}

#: Account area (the attribute of :class:`~tunehouse.store.accounts.AccountStore`) -> the
#: database's interface: the one above plus the store-only operations.
ACCOUNT_STORE_AREAS: dict[str, type] = {
    "users": UserStore,
    "keys": ApiKeyStore,
    "roles": RoleStore,
    "audit": AuditStore,
    "preferences": Preferences,
    "throttle": ThrottleStore,
    "sessions": SessionStore,
}

__all__ = ["ACCOUNT_AREAS", "ACCOUNT_STORE_AREAS", "AREAS", "ApiKeyStore", "ApiKeys",
           "ArtifactStore", "AuditLog", "AuditStore", "EventStore", "Lockouts", "ModelStore",
           "Preferences", "ProjectRoles", "QueueStore", "RoleStore", "SessionStore",
           "TaskStore", "ThrottleStore", "UserStore", "Users"]
