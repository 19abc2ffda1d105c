"""The store as the server hands it to a request: every call checked against the acting
user's role on the project it touches, then done by the SQL store.

:func:`tunehouse.server.auth.principal` wraps the request's :class:`~tunehouse.store.sql.
SqlStore` view in a :class:`GuardedStore` for the acting user (the authenticated user, or
the user an admin or agent acts for with ``X-Tunehouse-User``), so the JSON API and the
web UI's pages, which both read ``who.store``, go through the same checks, and a route
cannot forget one. Each area subclasses its interface, so an area method added to an
interface and not guarded here fails at instantiation.

The rules (roles are :class:`~tunehouse.server.permissions.Role`; docs/security.md has
the table):

* tasks and events (:mod:`.guarded_tasks`): read ``viewer``, change ``editor``, delete
  ``owner`` on the task's project; a new project is open to every user;
* artifacts: uploading a blob (through the server, or planning and completing a direct
  upload) is open to every user; a blob is read (streamed, or a presigned URL) only by a
  user who may read an artifact or model referring to it, else it is "not found" (404: its
  existence is not revealed); registering an artifact needs ``editor``;
* models: read ``viewer`` on the model's project, register, edit, publish and move
  stages ``editor`` (on the project of the version that holds a stage or is the latest of
  its name too); a model without a project is read by all and changed by its creator;
* queues: listing queues, entries and workers is open to every user; enqueue, dequeue and
  moving a task need ``editor`` on the task; claiming, heartbeats and reaping leases need
  an agent account (or an admin), deleting a queue an admin. A search's private queue
  (``local=N``) is also served, fed and removed by the search's editors;
* project roles (:class:`GuardedProjectRoles`, the accounts' ``roles`` area): listing who
  has access needs ``viewer`` on the project, granting and revoking ``owner``.

Admins pass every check without a query.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from tunehouse.errors import NotFound, PermissionDenied
from tunehouse.server.guarded_checks import SEARCH_WORKER, Guard
from tunehouse.server.guarded_tasks import GuardedEventStore, GuardedTaskStore
from tunehouse.server.permissions import Permissions, Role
from tunehouse.store.base import Store
from tunehouse.store.interfaces import ArtifactStore, ModelStore, ProjectRoles, QueueStore
from tunehouse.store.interfaces.roles import AccessEntry
from tunehouse.store.records import (
    LEASE_S,
    Artifact,
    ArtifactCreate,
    Blob,
    HeartbeatReply,
    Model,
    ModelCreate,
    ModelUpdate,
    Queue,
    QueueEntry,
    QueuePosition,
    Task,
    User,
    Worker,
    WorkerHeartbeat,
)
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.artifacts import SqlArtifactStore
from tunehouse.store.uploads import BlobUpload, BlobUrl, UploadCompletion, UploadPlan

__all__ = ["GuardedProjectRoles", "GuardedStore", "acting_for", "guarded_store"]

V, E = Role.viewer, Role.editor


class GuardedArtifactStore(ArtifactStore):
    """Blobs and artifacts checked by ``guard`` (see the module docstring)."""

    def __init__(self, guard: Guard, inner: SqlArtifactStore) -> None:
        self._guard = guard
        self._inner = inner

    def put_blob(self, stream: BinaryIO) -> Blob:
        return self._inner.put_blob(stream)

    def open_blob(self, sha256: str) -> Iterator[bytes]:
        if not self._guard.user.admin and not self._may_read_blob(sha256):
            raise NotFound(f"blob {sha256} not found")
        return self._inner.open_blob(sha256)

    def plan_upload(self, spec: BlobUpload) -> UploadPlan:
        return self._inner.plan_upload(spec)

    def complete_upload(self, spec: UploadCompletion) -> Blob:
        return self._inner.complete_upload(spec)

    def blob_url(self, sha256: str) -> BlobUrl:
        if not self._guard.user.admin and not self._may_read_blob(sha256):
            raise NotFound(f"blob {sha256} not found")
        return self._inner.blob_url(sha256)

    def _may_read_blob(self, sha256: str) -> bool:
        projects = self._inner.blob_projects(sha256)
        if not projects:
            return False
        if None in projects:  # a model without a project: everybody reads it
            return True
        readable = self._guard.readable()
        return readable is None or any(project in readable for project in projects)

    def add_artifact(self, task_id: str, spec: ArtifactCreate) -> Artifact:
        self._guard.task(task_id, E, f"add artifact {spec.name!r} to")
        return self._inner.add_artifact(task_id, spec)

    def list_artifacts(self, task_id: str) -> list[Artifact]:
        self._guard.task(task_id, V, "read the artifacts of")
        return self._inner.list_artifacts(task_id)


class GuardedModelStore(ModelStore):
    """The model registry checked by ``guard`` (see the module docstring)."""

    def __init__(self, guard: Guard, inner: ModelStore) -> None:
        self._guard = guard
        self._inner = inner

    def _find(self, name: str, version: int | None = None,
              stage: str | None = None) -> Model | None:
        try:
            return self._inner.find_model(name, version=version, stage=stage)
        except NotFound:
            return None

    def create_model(self, spec: ModelCreate) -> Model:
        guard = self._guard
        if not guard.user.admin:
            what = f"register a version of model {spec.name!r}"
            if spec.project is not None:
                guard.project_or_new(spec.project, E, what)
                if spec.task_id is not None:
                    guard.task(spec.task_id, V, f"register model {spec.name!r} of")
            elif spec.task_id is not None:
                guard.task(spec.task_id, E, f"register model {spec.name!r} of")
            latest = self._find(spec.name)
            if latest is not None:  # the next version of a name is its owners' to add
                guard.model(latest, E, what)
        return self._inner.create_model(spec)

    def get_model(self, model_id: str) -> Model:
        model = self._inner.get_model(model_id)
        self._guard.model(model, V, f"read model {model.name} v{model.version}")
        return model

    def find_model(self, name: str, version: int | None = None, stage: str | None = None) -> Model:
        model = self._inner.find_model(name, version=version, stage=stage)
        self._guard.model(model, V, f"read model {model.name} v{model.version}")
        return model

    def list_models(self, name: str | None = None, task_id: str | None = None) -> list[Model]:
        readable = self._guard.readable()
        models = self._inner.list_models(name=name, task_id=task_id)
        if readable is None:
            return models
        return [m for m in models if m.project_id is None or m.project_id in readable]

    def update_model(self, model_id: str, update: ModelUpdate) -> Model:
        model = self._inner.get_model(model_id)
        verb = "publish" if update.published else "change"
        self._guard.model(model, E, f"{verb} model {model.name} v{model.version}")
        return self._inner.update_model(model_id, update)

    def set_model_stage(self, name: str, stage: str, version: int) -> Model:
        if not self._guard.user.admin:
            what = f"move stage {stage!r} of model {name!r}"
            target = self._find(name, version=version)
            if target is not None:  # else the store says which version is missing
                self._guard.model(target, E, what)
            holder = self._find(name, stage=stage)
            if holder is not None and (target is None or holder.id != target.id):
                self._guard.model(holder, E, what)  # the stage is taken from it
        return self._inner.set_model_stage(name, stage, version)


class GuardedQueueStore(QueueStore):
    """Queues, claims and workers checked by ``guard`` (see the module docstring)."""

    def __init__(self, guard: Guard, inner: QueueStore) -> None:
        self._guard = guard
        self._inner = inner

    def get_or_create_queue(self, name: str) -> Queue:
        return self._inner.get_or_create_queue(name)

    def list_queues(self) -> list[Queue]:
        return self._inner.list_queues()

    def delete_queue(self, name: str) -> None:
        if not self._guard.search_queue(name, "delete"):
            self._guard.admin(f"delete queue {name}")
        self._inner.delete_queue(name)

    def enqueue(self, task_id: str, queue: str, priority: int = 0) -> Task:
        self._guard.task(task_id, E, "enqueue")
        self._guard.search_queue(queue, "feed")
        return self._inner.enqueue(task_id, queue, priority)

    def dequeue(self, task_id: str) -> Task:
        self._guard.task(task_id, E, "dequeue")
        return self._inner.dequeue(task_id)

    def move_queued_task(self, task_id: str, position: QueuePosition) -> QueueEntry:
        self._guard.task(task_id, E, "move")
        return self._inner.move_queued_task(task_id, position)

    def list_queue_entries(self, queue: str) -> list[QueueEntry]:
        return self._inner.list_queue_entries(queue)

    def claim_task(self, queues: list[str], worker: str, wait_s: float = 0.0,
                   lease_s: float = LEASE_S) -> Task | None:
        guard = self._guard
        if not guard.runs_agents:
            for queue in queues:
                if not guard.search_queue(queue, "claim from"):
                    guard.agent(f"claim tasks from queue {queue}")
        return self._inner.claim_task(queues, worker, wait_s=wait_s, lease_s=lease_s)

    def heartbeat(self, beat: WorkerHeartbeat) -> HeartbeatReply:
        guard = self._guard
        if not guard.runs_agents:
            # a search's own agent: named after the search, serving its private queue only
            match = SEARCH_WORKER.match(beat.name)
            own = f"hpo-{match.group(1)}" if match else None
            if (own is None or any(queue != own for queue in beat.queues)
                    or not guard.search_queue(own, "serve")):
                guard.agent(f"report as worker {beat.name}")
        return self._inner.heartbeat(beat)

    def list_workers(self, max_age_s: float | None = None) -> list[Worker]:
        return self._inner.list_workers(max_age_s=max_age_s)

    def reap_expired_leases(self, lost_worker_retries: int = 2) -> list[Task]:
        self._guard.agent("reap expired leases")
        return self._inner.reap_expired_leases(lost_worker_retries)


class GuardedStore(Store):
    """A :class:`~tunehouse.store.base.Store` whose every call is checked against the
    roles of ``user`` (see the module docstring), then done by ``inner``.

    Args:
        inner: The SQL store view acting as ``user`` (fenced, with its audit context).
        user: The acting user's record (admin and agent flags).
        permissions: The roles on the server's database.
    """

    def __init__(self, inner: SqlStore, user: User, permissions: Permissions) -> None:
        self.inner = inner
        self.acting = user
        self.permissions = permissions
        guard = Guard(user, permissions)
        self.guard = guard
        self.tasks = GuardedTaskStore(guard, inner.tasks)
        self.events = GuardedEventStore(guard, inner.events)
        self.artifacts = GuardedArtifactStore(guard, inner.artifacts)
        self.models = GuardedModelStore(guard, inner.models)
        self.queues = GuardedQueueStore(guard, inner.queues)

    @property
    def user(self) -> str:
        return self.inner.user

    def with_user(self, user: str) -> GuardedStore:
        """The same store acting as (and checked as) ``user``, who must exist and be
        enabled."""
        record = self.permissions.get_user(user)
        if record.disabled:
            raise PermissionDenied(f"cannot act as the disabled user {user!r}")
        return self._view(self.inner.with_user(user), record)

    def with_fence(self, task_id: str, attempt: int) -> GuardedStore:
        return self._view(self.inner.with_fence(task_id, attempt), self.acting)

    def _view(self, inner: SqlStore, user: User) -> GuardedStore:
        return GuardedStore(inner, user, self.permissions)

    def with_context(self, actor: str | None = None, client: str | None = None,
                     ) -> GuardedStore:
        """The same store, its audit entries naming ``actor`` and ``client`` (see
        :meth:`SqlStore.with_context <tunehouse.store.sql.SqlStore.with_context>`)."""
        return self._view(self.inner.with_context(actor=actor, client=client), self.acting)

    def close(self) -> None:
        self.inner.close()


def acting_for(authenticated: User, target: User) -> User:
    """The user whose permissions apply when ``authenticated`` acts for ``target``
    (``X-Tunehouse-User``): the target's, but never server-wide powers the authenticated
    user lacks, so an agent account acting for an admin gets that admin's project roles,
    not the admin's rights."""
    if target.admin and not authenticated.admin:
        return target.model_copy(update={"admin": False})
    return target


def guarded_store(store: SqlStore, user: User, permissions: Permissions) -> GuardedStore:
    """``store`` (a view acting as ``user.name``) checked against ``user``'s roles."""
    return GuardedStore(store, user, permissions)


class GuardedProjectRoles(ProjectRoles):
    """The accounts' ``roles`` area checked against the roles of ``user`` (see the module
    docstring), then done by ``inner`` (acting as ``user``: the grants' ``granted_by``)."""

    def __init__(self, user: User, permissions: Permissions, inner: ProjectRoles) -> None:
        self.user = user
        self.permissions = permissions
        self._inner = inner

    def list_access(self, project: str) -> list[AccessEntry]:
        self.permissions.require(self.user, project, Role.viewer, "list who has access")
        return self._inner.list_access(project)

    def grant_role(self, project: str, user: str, role: str) -> AccessEntry:
        granted = Role.parse(role)
        self.permissions.require(self.user, project, Role.owner,
                                 f"grant {granted.name} to {user}")
        return self._inner.grant_role(project, user, granted.name)

    def revoke_role(self, project: str, user: str) -> bool:
        self.permissions.require(self.user, project, Role.owner, f"revoke the role of {user}")
        return self._inner.revoke_role(project, user)
