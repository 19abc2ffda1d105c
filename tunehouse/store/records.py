"""Records exchanged through the Store interface.

The same pydantic models are the store's return values, the server's request and
response bodies and what the HTTP client parses, so the embedded and the remote backend
hand the SDK identical objects. Records are immutable (``frozen``).
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, field_validator

NAME_MAX = 255

#: What no name may hold: the C0 control characters but tab (NUL among them, which
#: PostgreSQL cannot store), and DEL.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def refuse_control_characters(name: str) -> str:
    """``name`` unchanged; ValueError when it holds a control character (tab aside)."""
    found = _CONTROL_CHARACTER.search(name)
    if found:
        raise ValueError(f"a name may not hold control characters: {found.group()!r} at "
                         f"position {found.start()}")
    return name


#: A name a user chooses (project, task, model, artifact, queue, worker): 1 to
#: ``NAME_MAX`` characters, no control character.
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX),
                 AfterValidator(refuse_control_characters)]
#: Integers that fit the 64-bit columns of both databases.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
#: An iteration number: a JSON integer, strictly (``true``, ``"5"`` and ``5.0`` are
#: refused rather than coerced).
Iteration = Annotated[Int64, Strict()]


# Both bases defer building their models' validation schemas to the first use
# (``defer_build``): a training script's Task.init builds the few it uses, not all of them
# (docs/sdk.md); the server builds them all at start (:func:`build_schemas`).
class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error naming the field."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class TaskStatus(enum.StrEnum):
    created = "created"
    queued = "queued"
    in_progress = "in_progress"
    completed = "completed"
    failed = "failed"
    aborted = "aborted"


class TaskType(enum.StrEnum):
    training = "training"
    testing = "testing"
    optimizer = "optimizer"
    data_processing = "data_processing"
    inference = "inference"
    controller = "controller"


# ---------------------------------------------------------------- projects and tasks
class Project(Record):
    id: str
    name: str
    description: str = ""
    user: str
    created: datetime


class Task(Record):
    id: str
    project_id: str
    project: str
    name: str
    type: TaskType
    status: TaskStatus
    status_reason: str = ""
    status_message: str = ""
    parent_id: str | None = None
    tags: list[str] = []
    comment: str = ""
    user: str
    created: datetime
    started: datetime | None = None
    completed: datetime | None = None
    updated: datetime
    queue: str | None = None
    worker: str | None = None
    #: The user that claimed the current attempt from a queue (an agent account).
    runner: str | None = None
    attempt: int = 0
    max_retries: int = 0
    last_iteration: int | None = None
    abort_requested: bool = False
    #: When the task's process last showed a sign of life (a report or a beat).
    last_seen: datetime | None = None
    #: Under an agent: when the worker's lease on this attempt runs out unless renewed
    #: (``worker`` and ``attempt`` are the rest of the lease; ``attempt`` fences writes).
    lease_expires: datetime | None = None


#: A running SDK marks its task alive at least this often (reports count too).
ALIVE_INTERVAL_S = 30.0
#: A running task quiet for this long "shows no life": an abort ends it at once.
QUIET_AFTER_S = 3 * ALIVE_INTERVAL_S
#: Default time after which the watchdog fails a quiet task as "process lost".
LOST_AFTER_S = 300.0
#: Default lease of a claimed task: an agent renews it with each heartbeat; once it runs
#: out the watchdog hands the task back to its queue (or fails it: "worker lost").
LEASE_S = 60.0
#: Longest a claim may wait for a task to arrive (long poll), in seconds.
CLAIM_WAIT_MAX_S = 30.0
#: Longest a wait for a change of a task's children may last (long poll), in seconds.
CHILDREN_WAIT_MAX_S = 30.0


class TaskCreate(Input):
    """A new task. ``id`` (32 lowercase hex digits) may be chosen by the client so that a
    create sent again after a lost answer returns the same task instead of a second one."""

    id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    project: Name
    name: Name
    type: TaskType = TaskType.training
    tags: list[str] = []
    comment: str = ""
    parent_id: str | None = None
    max_retries: int = Field(default=0, ge=0, le=100)

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        return validate_project_name(value)


class TaskUpdate(Input):
    """Fields of a task that may be edited; ``None`` leaves a field unchanged."""

    name: Name | None = None
    comment: str | None = None
    tags: list[str] | None = None
    max_retries: int | None = Field(default=None, ge=0, le=100)
    status_message: str | None = None
    last_iteration: Iteration | None = None


class StatusChange(Input):
    """A status change. ``keep_if_same``: when the task already has ``status``, succeed
    and change nothing (one atomic check-and-set, so several processes attaching to one
    task all succeed and the attempt is counted once)."""

    status: TaskStatus
    reason: str = ""
    message: str = ""
    worker: str | None = None
    force: bool = False
    keep_if_same: bool = False


#: The tag that archives a task: the web UI's table leaves such tasks out unless asked.
ARCHIVED_TAG = "archived"


class TaskQuery(Input):
    """Filters, order and page of a task listing (the read model of task tables).

    ``order_by`` is ``created``, ``updated``, ``name``, ``status``, ``type`` or a column
    spec: ``param:<section>/<name>`` (numeric values first in numeric order, then the
    others by text) or ``metric:<title>/<series>[:last|:min|:max]``; tasks lacking the
    value come last in both directions, ties go by id. ``metric_field`` picks the summary
    value (``last``, ``min`` or ``max``) of a metric order without a suffix.

    ``tags`` must all be present, ``exclude_tags`` all absent (the web UI's table leaves
    out ``archived`` tasks this way unless asked to show them).

    ``filters`` are ``COLUMN OP VALUE`` texts (all must hold), OP one of ``= != < <= > >=``,
    COLUMN a column spec or ``created``, ``updated``, ``name``, ``status``, ``type``,
    ``user``: ``param:General/lr >= 0.001``, ``metric:val/loss:min < 0.2``. A numeric VALUE
    compares numbers, another compares text; a task lacking the column never matches.
    ``columns`` are column specs whose values :attr:`TaskPage.values` returns. ``cursor`` is
    the :attr:`TaskPage.next_cursor` of the previous page (``offset`` must then be 0).
    """

    project: str | None = None
    status: list[TaskStatus] | None = None
    type: list[TaskType] | None = None
    tags: list[str] | None = None
    exclude_tags: list[str] | None = None
    parent_id: str | None = None
    name: str | None = None
    user: str | None = None
    order_by: str = "created"
    metric_field: str = Field(default="last", pattern="^(last|min|max)$")
    descending: bool = True
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**62)
    filters: list[str] | None = None
    columns: list[str] | None = None
    cursor: str | None = None


class TaskPage(Record):
    """One page of a listing: ``total`` counts every match; ``values`` maps task id to
    {column spec: value} for the query's ``columns`` (a parameter as its number when
    numeric, else its text; a metric as a float or None; no key when the task lacks it);
    ``next_cursor`` continues after this page, None on the last one."""

    total: int
    tasks: list[Task]
    values: dict[str, dict[str, Any]] = {}
    next_cursor: str | None = None


# ---------------------------------------------------------------- parameters and configs
class Parameter(Record):
    """One hyperparameter. ``value`` is the text form; ``type`` names the Python type."""

    section: str = Field(default="General", min_length=1, max_length=NAME_MAX)
    name: str = Field(min_length=1, max_length=NAME_MAX)
    value: str = ""
    type: str = "str"
    description: str = ""


class Configuration(Record):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    text: str
    description: str = ""


# ---------------------------------------------------------------- script and environment
class Script(Record):
    repository: str = ""
    branch: str = ""
    commit: str = ""
    diff: str = ""
    untracked_files: list[str] = []
    entry_point: str = ""
    working_dir: str = ""
    script_text: str = ""
    argv: list[str] = []


class Environment(Record):
    python: str = ""
    platform: str = ""
    hostname: str = ""
    cpu: str = ""
    cpu_count: int = 0
    memory_gb: float = 0.0
    gpus: list[dict[str, Any]] = []
    packages: list[str] = []
    seed: int | None = None
    extra: dict[str, Any] = {}


# ---------------------------------------------------------------- events
class ScalarEvent(NamedTuple):
    """One reported scalar; travels as a JSON array ``[title, series, iteration, value, wall]``.

    ``value`` ``None`` stands for NaN (JSON has no NaN).
    """

    title: str
    series: str
    iteration: Iteration
    value: float | None
    wall: float


class LogEvent(NamedTuple):
    """One console line; travels as ``[stream, text, wall]`` (stream: stdout/stderr/log)."""

    stream: str
    text: str
    wall: float


class EventBatch(Input):
    """Events of one task. ``batch_id`` makes a resend idempotent: it is stored once."""

    batch_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    task_id: str
    scalars: list[ScalarEvent] = []
    logs: list[LogEvent] = []


class BatchResult(Record):
    batch_id: str
    duplicate: bool
    scalars: int
    logs: int


class MetricSummary(Record):
    title: str
    series: str
    count: int
    last: float | None
    min: float | None
    max: float | None
    last_iteration: int


class SeriesData(Record):
    """Points of one (title, series): iteration ``x``, value ``y`` and the wall-clock time
    ``wall`` (Unix seconds) of each; ``sampled`` is true when downsampled."""

    title: str
    series: str
    x: list[int]
    y: list[float | None]
    wall: list[float] = []
    total: int
    sampled: bool = False


class LogLine(Record):
    seq: int
    stream: str
    text: str
    wall: float


# ---------------------------------------------------------------- artifacts and models
class Blob(Record):
    """Content stored in the artifact store, addressed by its sha256."""

    sha256: str
    size: int


class Artifact(Record):
    task_id: str
    name: str
    kind: str
    sha256: str
    size: int
    content_type: str = "application/octet-stream"
    metadata: dict[str, Any] = {}
    created: datetime


class ArtifactCreate(Input):
    name: Name
    kind: str = Field(default="file", max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    content_type: str = "application/octet-stream"
    metadata: dict[str, Any] = {}


class Model(Record):
    id: str
    name: str
    version: int
    framework: str
    project_id: str | None = None
    task_id: str | None = None
    sha256: str
    size: int
    format: str = ""
    tags: list[str] = []
    stages: list[str] = []
    published: bool = False
    comment: str = ""
    metadata: dict[str, Any] = {}
    user: str
    created: datetime


class ModelCreate(Input):
    name: Name
    framework: str = Field(default="", max_length=64)
    project: str | None = None
    task_id: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    format: str = Field(default="", max_length=64)
    tags: list[str] = []
    comment: str = ""
    metadata: dict[str, Any] = {}


class ModelUpdate(Input):
    tags: list[str] | None = None
    comment: str | None = None
    published: bool | None = None


# ---------------------------------------------------------------- queues and workers
class Queue(Record):
    id: str
    name: str
    created: datetime
    length: int = 0


class QueueEntry(Record):
    task_id: str
    queue: str
    priority: int
    enqueued: datetime


class Worker(Record):
    """An agent as it last reported itself."""

    name: str
    host: str = ""
    queues: list[str] = []
    gpus: list[str] = []
    #: Tasks the worker is running now.
    tasks: list[str] = []
    #: How many tasks it runs at once, and how many more it could take now.
    slots: int = 1
    free_slots: int = 0
    stats: dict[str, Any] = {}
    user: str
    registered: datetime
    last_heartbeat: datetime


class WorkerHeartbeat(Input):
    """A worker's sign of life. ``tasks`` maps each task it runs to the attempt it holds:
    their leases are renewed for ``lease_s`` seconds."""

    name: Name
    host: str = Field(default="", max_length=NAME_MAX)
    queues: list[str] = []
    gpus: list[str] = []
    tasks: dict[str, int] = {}
    slots: int = Field(default=1, ge=0, le=10_000)
    free_slots: int = Field(default=0, ge=0, le=10_000)
    stats: dict[str, Any] = {}
    lease_s: float = Field(default=LEASE_S, gt=0, le=86_400)


class HeartbeatReply(Record):
    """The store's answer to a heartbeat.

    ``abort``: tasks of the worker whose abort was requested (stop them, mark them aborted);
    ``revoked``: tasks the worker no longer holds (its lease ran out and the task went back
    to its queue or ended): stop them without writing anything more.
    """

    worker: Worker
    abort: list[str] = []
    revoked: list[str] = []


class QueuePosition(enum.StrEnum):
    front = "front"
    back = "back"


# ---------------------------------------------------------------- users, keys, audit
class User(Record):
    """A server account. ``agent``: may act for other users (``X-Tunehouse-User``), as an
    admin may; ``source``: where its password is checked, ``local`` or ``ldap``."""

    name: str
    admin: bool = False
    agent: bool = False
    source: str = "local"
    disabled: bool = False
    created: datetime


class ApiKey(Record):
    access_key: str
    user: str
    description: str = ""
    revoked: bool = False
    created: datetime
    last_used: datetime | None = None
    #: A key made for one attempt of a task works only while that attempt runs.
    task_id: str | None = None
    attempt: int | None = None


class NewApiKey(Record):
    """Returned once at creation: the secret is never shown again."""

    access_key: str
    secret_key: str
    user: str


class Lockout(Record):
    """The failed sign-ins or key checks counted for one key (``user:<name>``,
    ``addr:<address>`` or ``key:<access key>``); ``locked_until``: when its lockout ends
    (None: not locked)."""

    key: str
    failures: int
    first_failure: datetime
    last_failure: datetime
    locked_until: datetime | None = None


class AuditEvent(Record):
    """One entry of the append-only audit log. ``user``: who the change was made as;
    ``actor``: the authenticated user when it acted for ``user`` (else null); ``client``:
    the address of the client that asked for it (null when not over HTTP)."""

    id: int
    user: str
    actor: str | None = None
    client: str | None = None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any] = {}
    created: datetime


def validate_project_name(name: str) -> str:
    """Project names are hierarchical (``team/vision/mnist``): no empty parts, no ``..``."""
    parts = name.split("/")
    if any(not part.strip() for part in parts) or ".." in parts:
        raise ValueError(f"invalid project name {name!r}: parts separated by '/' must be non-empty")
    return "/".join(part.strip() for part in parts)


def build_schemas() -> None:
    """Build the validation schemas of every :class:`Record` and :class:`Input` model
    defined so far (the server's request bodies among them), which the models otherwise
    build at their first use, and stop deferring them: the pydantic adapters made of them
    afterwards (FastAPI's, of each route's body and answer) are then built at once too,
    as FastAPI's OpenAPI document needs. The server calls it before it adds its routes."""
    pending: list[type[BaseModel]] = [Record, Input]
    while pending:
        model = pending.pop()
        model.model_config["defer_build"] = False
        model.model_rebuild(force=True)
        pending.extend(model.__subclasses__())
