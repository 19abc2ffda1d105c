"""The Store interface over the tracking server's JSON API.

:class:`HttpStore` keeps the same contract as the SQL store (same records, same
exceptions): error bodies are turned back into their :mod:`tunehouse.errors` class with
:func:`~tunehouse.errors.error_class_for`; connection errors, timeouts and 5xx answers
become :class:`~tunehouse.errors.ServerUnavailable`. One ``httpx.Client`` with
keep-alive is shared by all threads (and by the views :meth:`HttpStore.with_user` makes).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel, TypeAdapter

from tunehouse.errors import (
    AuthenticationFailed,
    SchemaOutOfDate,
    ServerUnavailable,
    TunehouseError,
    error_class_for,
)
from tunehouse.settings import Settings
from tunehouse.store.base import Store
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

API_PREFIX = "/api/v1"
ACT_AS_HEADER = "X-Tunehouse-User"
BLOB_CHUNK = 1 << 20
R = TypeVar("R")

_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(kind)
    if adapter is None:
        adapter = _adapters[kind] = TypeAdapter(kind)
    return adapter


def _seg(value: str) -> str:
    """One URL path segment (slashes escaped, so no id can walk the URL tree)."""
    return quote(str(value), safe="")


def _params(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


class _Connection:
    """The shared HTTP client of an :class:`HttpStore` and its views."""

    def __init__(self, url: str, access_key: str, secret_key: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        token = base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()
        self.client = httpx.Client(
            base_url=self.url + API_PREFIX,
            headers={"Authorization": f"Basic {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            transport=httpx.HTTPTransport(retries=1),
        )

    def unreachable(self, exc: Exception) -> ServerUnavailable:
        if isinstance(exc, httpx.TimeoutException):
            return ServerUnavailable(f"the tunehouse server at {self.url} did not answer in time "
                                     f"({type(exc).__name__})")
        return ServerUnavailable(f"cannot reach the tunehouse server at {self.url}: {exc}")


def raise_for_response(response: httpx.Response, url: str) -> None:
    """Raise the tunehouse error an error response carries (nothing for 1xx-3xx)."""
    status = response.status_code
    if status < 400:
        return
    code, message, detail = "", "", None
    try:
        error = orjson.loads(response.content)["error"]
        code, message, detail = str(error["code"]), str(error["message"]), error.get("detail")
    except (ValueError, KeyError, TypeError):
        message = response.text[:300] or response.reason_phrase
    if status >= 500 and code != SchemaOutOfDate.code:
        raise ServerUnavailable(f"the tunehouse server at {url} failed ({status}): {message}",
                                detail={"status": status, "code": code})
    cls = error_class_for(code, status)
    raise cls(message or f"HTTP {status}", detail)


class HttpStore(Store):
    """A :class:`~tunehouse.store.base.Store` that talks to a tunehouse server.

    Args:
        url: Base URL of the server, e.g. ``http://127.0.0.1:8420``.
        access_key: API access key.
        secret_key: API secret.
        timeout: Seconds to wait for any one request.
    """

    def __init__(self, url: str, access_key: str, secret_key: str, timeout: float = 60.0) -> None:
        self._conn = _Connection(url, access_key, secret_key, timeout)
        self._act_as: str | None = None
        self._user: str | None = None
        self._owner = True

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpStore:
        """The store for ``settings.server`` with the configured key.

        Raises:
            AuthenticationFailed: no access key / secret is configured.
        """
        if not settings.server:
            raise TunehouseError("no tracking server configured (TUNEHOUSE_SERVER is unset)")
        if not (settings.access_key and settings.secret_key):
            raise AuthenticationFailed(
                f"no API key configured for the server {settings.server}: set "
                "TUNEHOUSE_ACCESS_KEY and TUNEHOUSE_SECRET_KEY (create one with "
                f"`tunehouse keys create`), or run on the server machine where "
                f"{settings.credentials_path} holds the admin key")
        return cls(settings.server, settings.access_key, settings.secret_key)

    @property
    def url(self) -> str:
        return self._conn.url

    @property  # type: ignore[override]
    def user(self) -> str:
        """The acting user: the key's user, or the name given to :meth:`with_user`."""
        if self._user is None:
            self._user = self._act_as or self.whoami().name
        return self._user

    @user.setter
    def user(self, value: str) -> None:
        self._user = value

    def with_user(self, user: str) -> HttpStore:
        """A view acting as ``user`` (sent as ``X-Tunehouse-User``; the server allows it
        for admins only, or for the key's own user)."""
        view = object.__new__(HttpStore)
        view._conn = self._conn
        view._act_as = user
        view._user = user
        view._owner = False
        return view

    def close(self) -> None:
        if self._owner:
            self._conn.client.close()

    # ------------------------------------------------------------ plumbing
    def _send(self, method: str, path: str, *, body: Any = None, params: Any = None,
              content: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        all_headers = dict(headers or {})
        if self._act_as is not None:
            all_headers[ACT_AS_HEADER] = self._act_as
        if body is not None:
            if isinstance(body, BaseModel):
                content = body.model_dump_json()
            elif isinstance(body, list) and body and isinstance(body[0], BaseModel):
                content = _adapter(list[type(body[0])]).dump_json(body)  # type: ignore[misc]
            else:
                content = orjson.dumps(body)
            all_headers["Content-Type"] = "application/json"
        try:
            response = self._conn.client.request(method, path, params=params, content=content,
                                                 headers=all_headers)
        except httpx.TransportError as exc:
            raise self._conn.unreachable(exc) from exc
        raise_for_response(response, self._conn.url)
        return response

    def _get(self, kind: type[R] | Any, path: str, **params: Any) -> Any:
        response = self._send("GET", path, params=_params(**params))
        return _adapter(kind).validate_json(response.content)

    def _post(self, kind: type[R] | Any, path: str, body: Any = None, method: str = "POST",
              **params: Any) -> Any:
        response = self._send(method, path, body=body if body is not None else {},
                              params=_params(**params))
        return _adapter(kind).validate_json(response.content)

    def whoami(self) -> User:
        """The user the configured key belongs to."""
        return self._get(User, "/auth/me")  # type: ignore[no-any-return]

    def health(self) -> dict[str, Any]:
        """The server's health document (no authentication needed)."""
        return self._get(dict[str, Any], "/health")  # type: ignore[no-any-return]

    # ------------------------------------------------------------ projects
    def get_or_create_project(self, name: str, description: str = "") -> Project:
        return self._post(Project, "/projects", {"name": name, "description": description})

    def get_project(self, name_or_id: str) -> Project:
        return self._get(Project, f"/projects/{quote(name_or_id, safe='/')}")

    def list_projects(self) -> list[Project]:
        return self._get(list[Project], "/projects")

    # ------------------------------------------------------------ tasks
    def create_task(self, spec: TaskCreate) -> Task:
        return self._post(Task, "/tasks", spec)

    def get_task(self, task_id: str) -> Task:
        return self._get(Task, f"/tasks/{_seg(task_id)}")

    def list_tasks(self, query: TaskQuery) -> TaskPage:
        params = query.model_dump(mode="json", exclude_none=True)
        return self._get(TaskPage, "/tasks", **params)

    def update_task(self, task_id: str, update: TaskUpdate) -> Task:
        return self._post(Task, f"/tasks/{_seg(task_id)}", update, method="PATCH")

    def change_status(self, task_id: str, change: StatusChange) -> Task:
        return self._post(Task, f"/tasks/{_seg(task_id)}/status", change)

    def request_abort(self, task_id: str, reason: str = "") -> Task:
        return self._post(Task, f"/tasks/{_seg(task_id)}/abort", {"reason": reason})

    def clone_task(self, task_id: str, name: str | None = None, parent_id: str | None = None,
                   project: str | None = None) -> Task:
        body = _params(name=name, parent_id=parent_id, project=project)
        return self._post(Task, f"/tasks/{_seg(task_id)}/clone", body)

    def delete_task(self, task_id: str) -> None:
        self._send("DELETE", f"/tasks/{_seg(task_id)}")

    # ------------------------------------------------------------ parameters & co
    def set_parameters(self, task_id: str, params: list[Parameter], replace: bool = False) -> None:
        self._send("PUT", f"/tasks/{_seg(task_id)}/parameters", body=list(params),
                   params={"replace": "true" if replace else "false"})

    def get_parameters(self, task_id: str) -> list[Parameter]:
        return self._get(list[Parameter], f"/tasks/{_seg(task_id)}/parameters")

    def set_configuration(self, task_id: str, config: Configuration) -> None:
        self._send("PUT", f"/tasks/{_seg(task_id)}/configurations", body=config)

    def get_configurations(self, task_id: str) -> list[Configuration]:
        return self._get(list[Configuration], f"/tasks/{_seg(task_id)}/configurations")

    def set_script(self, task_id: str, script: Script) -> None:
        self._send("PUT", f"/tasks/{_seg(task_id)}/script", body=script)

    def get_script(self, task_id: str) -> Script:
        return self._get(Script, f"/tasks/{_seg(task_id)}/script")

    def set_environment(self, task_id: str, env: Environment) -> None:
        self._send("PUT", f"/tasks/{_seg(task_id)}/environment", body=env)

    def get_environment(self, task_id: str) -> Environment:
        return self._get(Environment, f"/tasks/{_seg(task_id)}/environment")

    # ------------------------------------------------------------ events
    def add_events(self, batch: EventBatch) -> BatchResult:
        return self._post(BatchResult, "/events", batch)

    def get_metric_summaries(self, task_id: str) -> list[MetricSummary]:
        return self._get(list[MetricSummary], f"/tasks/{_seg(task_id)}/metrics")

    def get_scalars(self, task_id: str, title: str | None = None, series: str | None = None,
                    max_points: int | None = None) -> list[SeriesData]:
        return self._get(list[SeriesData], f"/tasks/{_seg(task_id)}/scalars", title=title,
                         series=series, max_points=max_points)

    def get_logs(self, task_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]:
        return self._get(list[LogLine], f"/tasks/{_seg(task_id)}/logs", after_seq=after_seq,
                         limit=limit)

    # ------------------------------------------------------------ blobs & artifacts
    def put_blob(self, stream: BinaryIO) -> Blob:
        chunks = iter(lambda: stream.read(BLOB_CHUNK), b"")
        response = self._send("PUT", "/blobs", content=chunks,
                              headers={"Content-Type": "application/octet-stream"})
        return Blob.model_validate_json(response.content)

    def open_blob(self, sha256: str) -> Iterator[bytes]:
        headers = {ACT_AS_HEADER: self._act_as} if self._act_as else {}
        request = self._conn.client.build_request("GET", f"/blobs/{_seg(sha256)}",
                                                  headers=headers)
        try:
            response = self._conn.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._conn.unreachable(exc) from exc
        if response.status_code >= 400:
            try:
                response.read()
            finally:
                response.close()
            raise_for_response(response, self._conn.url)
        return self._stream(response)

    def _stream(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(BLOB_CHUNK)
        except httpx.TransportError as exc:
            raise self._conn.unreachable(exc) from exc
        finally:
            response.close()

    def add_artifact(self, task_id: str, spec: ArtifactCreate) -> Artifact:
        return self._post(Artifact, f"/tasks/{_seg(task_id)}/artifacts", spec)

    def list_artifacts(self, task_id: str) -> list[Artifact]:
        return self._get(list[Artifact], f"/tasks/{_seg(task_id)}/artifacts")

    # ------------------------------------------------------------ models
    def create_model(self, spec: ModelCreate) -> Model:
        return self._post(Model, "/models", spec)

    def get_model(self, model_id: str) -> Model:
        return self._get(Model, f"/models/{_seg(model_id)}")

    def find_model(self, name: str, version: int | None = None, stage: str | None = None) -> Model:
        return self._get(Model, "/models/find", name=name, version=version, stage=stage)

    def list_models(self, name: str | None = None, task_id: str | None = None) -> list[Model]:
        return self._get(list[Model], "/models", name=name, task_id=task_id)

    def update_model(self, model_id: str, update: ModelUpdate) -> Model:
        return self._post(Model, f"/models/{_seg(model_id)}", update, method="PATCH")

    def set_model_stage(self, name: str, stage: str, version: int) -> Model:
        return self._post(Model, "/models/stage",
                          {"name": name, "stage": stage, "version": version})

    # ------------------------------------------------------------ queues & workers
    def get_or_create_queue(self, name: str) -> Queue:
        return self._post(Queue, "/queues", {"name": name})

    def list_queues(self) -> list[Queue]:
        return self._get(list[Queue], "/queues")

    def enqueue(self, task_id: str, queue: str, priority: int = 0) -> Task:
        return self._post(Task, f"/tasks/{_seg(task_id)}/enqueue",
                          {"queue": queue, "priority": priority})

    def dequeue(self, task_id: str) -> Task:
        return self._post(Task, f"/tasks/{_seg(task_id)}/dequeue")

    def list_queue_entries(self, queue: str) -> list[QueueEntry]:
        return self._get(list[QueueEntry], f"/queues/{_seg(queue)}/entries")

    def claim_task(self, queues: list[str], worker: str) -> Task | None:
        return self._post(Task | None, "/queues/claim",  # type: ignore[arg-type]
                          {"queues": list(queues), "worker": worker})

    def heartbeat(self, beat: WorkerHeartbeat) -> Worker:
        return self._post(Worker, "/workers/heartbeat", beat)

    def list_workers(self, max_age_s: float | None = None) -> list[Worker]:
        return self._get(list[Worker], "/workers", max_age_s=max_age_s)

    # ------------------------------------------------------------ users, keys, audit
    def create_user(self, name: str, password: str, admin: bool = False) -> User:
        return self._post(User, "/users", {"name": name, "password": password, "admin": admin})

    def get_user(self, name: str) -> User:
        return self._get(User, f"/users/{_seg(name)}")

    def list_users(self) -> list[User]:
        return self._get(list[User], "/users")

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        return self._post(User, f"/users/{_seg(name)}", {"disabled": disabled}, method="PATCH")

    def verify_password(self, name: str, password: str) -> User:
        return self._post(User, "/auth/verify", {"username": name, "password": password})

    def create_api_key(self, user: str, description: str = "") -> NewApiKey:
        return self._post(NewApiKey, "/keys", {"user": user, "description": description})

    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        return self._get(list[ApiKey], "/keys", user=user)

    def revoke_api_key(self, access_key: str) -> ApiKey:
        return self._post(ApiKey, f"/keys/{_seg(access_key)}/revoke")

    def authenticate_key(self, access_key: str, secret_key: str) -> User:
        """Check another key by asking the server who it belongs to."""
        token = base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()
        response = self._send("GET", "/auth/me", headers={"Authorization": f"Basic {token}"})
        return User.model_validate_json(response.content)

    def add_audit_event(self, action: str, target_type: str, target_id: str,
                        details: dict | None = None) -> AuditEvent:
        return self._post(AuditEvent, "/audit", {"action": action, "target_type": target_type,
                                                 "target_id": target_id, "details": details})

    def list_audit_events(self, target_type: str | None = None, target_id: str | None = None,
                          limit: int = 100) -> list[AuditEvent]:
        return self._get(list[AuditEvent], "/audit", target_type=target_type,
                         target_id=target_id, limit=limit)
