"""The Store interface: every operation on tunehouse's records.

Two implementations keep this contract, and one contract test suite
(``tests/store/test_contract.py``) runs against each of them:

* :class:`tunehouse.store.sql.SqlStore` – SQLAlchemy on SQLite (embedded default) or
  PostgreSQL; used by the server and by the SDK in embedded mode.
* :class:`tunehouse.client.http.HttpStore` – speaks the server's JSON API.

Contract every implementation keeps:

* Methods are thread-safe; returned records are immutable pydantic models.
* A missing record raises :class:`~tunehouse.errors.NotFound`, bad input
  :class:`~tunehouse.errors.InvalidInput`, a clash :class:`~tunehouse.errors.Conflict`
  (status changes the machine forbids: :class:`~tunehouse.errors.InvalidTransition`).
* Every record created carries the acting user: the store's ``user`` (embedded mode: the
  OS user; server: the authenticated principal, via :meth:`Store.with_user`).
* Writes are atomic: a call either fully happens or raises and changes nothing.
  ``add_events`` with a ``batch_id`` already stored changes nothing and says so.
* Ids are opaque strings. Task ids may be given by prefix in the CLI, never here.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import BinaryIO, Self

from tunehouse.store.records import (
    ApiKey,
    Artifact,
    ArtifactCreate,
    AuditEvent,
    BatchResult,
    Blob,
    Configuration,
    Environment,
    EventBatch,
    LogLine,
    MetricSummary,
    Model,
    ModelCreate,
    ModelUpdate,
    NewApiKey,
    Parameter,
    Project,
    Queue,
    QueueEntry,
    Script,
    SeriesData,
    StatusChange,
    Task,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskUpdate,
    User,
    Worker,
    WorkerHeartbeat,
)


class Store(abc.ABC):
    """Abstract store. See the module docstring for the contract."""

    #: Name of the acting user recorded on every record this store creates.
    user: str

    @abc.abstractmethod
    def with_user(self, user: str) -> Store:
        """A view of the same store acting as ``user`` (shares connections)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ projects
    @abc.abstractmethod
    def get_or_create_project(self, name: str, description: str = "") -> Project:
        """The project called ``name`` (hierarchical, ``a/b/c``), created if missing."""

    @abc.abstractmethod
    def get_project(self, name_or_id: str) -> Project: ...

    @abc.abstractmethod
    def list_projects(self) -> list[Project]:
        """All projects, by name."""

    # ------------------------------------------------------------ tasks
    @abc.abstractmethod
    def create_task(self, spec: TaskCreate) -> Task:
        """A new task in status ``created``; the project is created when missing."""

    @abc.abstractmethod
    def get_task(self, task_id: str) -> Task: ...

    @abc.abstractmethod
    def list_tasks(self, query: TaskQuery) -> TaskPage:
        """One page of tasks matching ``query`` and the total count of matches."""

    @abc.abstractmethod
    def update_task(self, task_id: str, update: TaskUpdate) -> Task:
        """Edit name, comment, tags, retries, message or last iteration."""

    @abc.abstractmethod
    def change_status(self, task_id: str, change: StatusChange) -> Task:
        """Move a task through the status machine (:mod:`tunehouse.store.status`).

        ``in_progress`` sets ``started`` and increments ``attempt``; a terminal status sets
        ``completed``; ``created`` (reset) clears queue, worker, abort flag and times, and
        removes the task's scalars, console and artifacts (not its parameters).
        """

    @abc.abstractmethod
    def request_abort(self, task_id: str, reason: str = "") -> Task:
        """Abort a task: queued/created ones at once, running ones by setting
        ``abort_requested`` for their agent or SDK to act on."""

    @abc.abstractmethod
    def clone_task(self, task_id: str, name: str | None = None, parent_id: str | None = None,
                   project: str | None = None) -> Task:
        """A new ``created`` task with the source's parameters, configurations, script,
        environment and tags (not its outputs)."""

    @abc.abstractmethod
    def delete_task(self, task_id: str) -> None:
        """Delete a task that is not queued or running, with everything it recorded."""

    # ------------------------------------------------------------ parameters & co
    @abc.abstractmethod
    def set_parameters(self, task_id: str, params: list[Parameter], replace: bool = False) -> None:
        """Upsert parameters by (section, name); ``replace`` first drops all others."""

    @abc.abstractmethod
    def get_parameters(self, task_id: str) -> list[Parameter]:
        """Parameters ordered by section then name."""

    @abc.abstractmethod
    def set_configuration(self, task_id: str, config: Configuration) -> None: ...

    @abc.abstractmethod
    def get_configurations(self, task_id: str) -> list[Configuration]: ...

    @abc.abstractmethod
    def set_script(self, task_id: str, script: Script) -> None: ...

    @abc.abstractmethod
    def get_script(self, task_id: str) -> Script:
        """The recorded script, or an empty ``Script()`` when none was recorded."""

    @abc.abstractmethod
    def set_environment(self, task_id: str, env: Environment) -> None: ...

    @abc.abstractmethod
    def get_environment(self, task_id: str) -> Environment: ...

    # ------------------------------------------------------------ events
    @abc.abstractmethod
    def add_events(self, batch: EventBatch) -> BatchResult:
        """Store scalars and console lines of one task in one transaction, once per
        ``batch_id``, and update the per-metric summary. Works on tasks in any status."""

    @abc.abstractmethod
    def get_metric_summaries(self, task_id: str) -> list[MetricSummary]: ...

    @abc.abstractmethod
    def get_scalars(self, task_id: str, title: str | None = None, series: str | None = None,
                    max_points: int | None = None) -> list[SeriesData]:
        """Reported series in iteration order (then report order). With ``max_points``
        each series longer than it is downsampled to at most ``max_points`` points (an
        evenly strided sample that keeps the first and the last point)."""

    @abc.abstractmethod
    def get_logs(self, task_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]:
        """Console lines with ``seq > after_seq``, oldest first."""

    # ------------------------------------------------------------ blobs & artifacts
    @abc.abstractmethod
    def put_blob(self, stream: BinaryIO) -> Blob:
        """Store content read from ``stream`` (streamed, never whole in memory)."""

    @abc.abstractmethod
    def open_blob(self, sha256: str) -> Iterator[bytes]:
        """The content of a blob in chunks. NotFound when absent."""

    @abc.abstractmethod
    def add_artifact(self, task_id: str, spec: ArtifactCreate) -> Artifact:
        """Register (or replace, by name) an artifact whose blob is already stored."""

    @abc.abstractmethod
    def list_artifacts(self, task_id: str) -> list[Artifact]: ...

    # ------------------------------------------------------------ models
    @abc.abstractmethod
    def create_model(self, spec: ModelCreate) -> Model:
        """A new version of the model called ``spec.name`` (1, 2, 3, ...)."""

    @abc.abstractmethod
    def get_model(self, model_id: str) -> Model: ...

    @abc.abstractmethod
    def find_model(self, name: str, version: int | None = None, stage: str | None = None) -> Model:
        """A version by number, by stage alias, or else the latest version."""

    @abc.abstractmethod
    def list_models(self, name: str | None = None, task_id: str | None = None) -> list[Model]:
        """Models by name then version."""

    @abc.abstractmethod
    def update_model(self, model_id: str, update: ModelUpdate) -> Model:
        """Edit tags/comment or publish. A published model cannot be edited (409)."""

    @abc.abstractmethod
    def set_model_stage(self, name: str, stage: str, version: int) -> Model:
        """Point the stage alias (``production``, ...) of model ``name`` at ``version``,
        taking it from whichever version had it, and record an audit event."""

    # ------------------------------------------------------------ queues & workers
    @abc.abstractmethod
    def get_or_create_queue(self, name: str) -> Queue: ...

    @abc.abstractmethod
    def list_queues(self) -> list[Queue]: ...

    @abc.abstractmethod
    def enqueue(self, task_id: str, queue: str, priority: int = 0) -> Task:
        """Put a ``created`` task in a queue (status ``queued``)."""

    @abc.abstractmethod
    def dequeue(self, task_id: str) -> Task:
        """Take a queued task back out of its queue (status ``created``)."""

    @abc.abstractmethod
    def list_queue_entries(self, queue: str) -> list[QueueEntry]:
        """Entries in claim order: highest priority first, then oldest."""

    @abc.abstractmethod
    def claim_task(self, queues: list[str], worker: str) -> Task | None:
        """Atomically take the next task from the first non-empty queue (in the order
        given) and mark it ``in_progress`` on ``worker``. No task is handed out twice."""

    @abc.abstractmethod
    def heartbeat(self, beat: WorkerHeartbeat) -> Worker:
        """Register or refresh a worker."""

    @abc.abstractmethod
    def list_workers(self, max_age_s: float | None = None) -> list[Worker]: ...

    # ------------------------------------------------------------ users, keys, audit
    @abc.abstractmethod
    def create_user(self, name: str, password: str, admin: bool = False) -> User: ...

    @abc.abstractmethod
    def get_user(self, name: str) -> User: ...

    @abc.abstractmethod
    def list_users(self) -> list[User]: ...

    @abc.abstractmethod
    def set_user_disabled(self, name: str, disabled: bool) -> User: ...

    @abc.abstractmethod
    def verify_password(self, name: str, password: str) -> User:
        """The user when the password matches and the user is enabled, else
        AuthenticationFailed (the same message whichever part was wrong)."""

    @abc.abstractmethod
    def create_api_key(self, user: str, description: str = "") -> NewApiKey: ...

    @abc.abstractmethod
    def list_api_keys(self, user: str | None = None) -> list[ApiKey]: ...

    @abc.abstractmethod
    def revoke_api_key(self, access_key: str) -> ApiKey: ...

    @abc.abstractmethod
    def authenticate_key(self, access_key: str, secret_key: str) -> User:
        """The key's user when the key exists, is not revoked, the secret matches and the
        user is enabled; else AuthenticationFailed."""

    @abc.abstractmethod
    def add_audit_event(self, action: str, target_type: str, target_id: str,
                        details: dict | None = None) -> AuditEvent: ...

    @abc.abstractmethod
    def list_audit_events(self, target_type: str | None = None, target_id: str | None = None,
                          limit: int = 100) -> list[AuditEvent]:
        """Newest first."""
