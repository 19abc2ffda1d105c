"""The store's areas over the server's JSON API: one class per area interface, each
method one operation of :data:`tunehouse.contract.ROUTES` (named ``<area>.<method>``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from tunehouse.client.blob_transfer import DIRECT_MIN_BYTES, seekable_size, upload_direct
from tunehouse.client.transport import BLOB_CHUNK, Caller
from tunehouse.store.interfaces import (
    ArtifactStore,
    EventStore,
    ModelStore,
    QueueStore,
    TaskStore,
)
from tunehouse.store.records import (
    LEASE_S,
    LOST_AFTER_S,
    Artifact,
    ArtifactCreate,
    BatchResult,
    Blob,
    Configuration,
    Environment,
    EventBatch,
    HeartbeatReply,
    LogLine,
    MetricSummary,
    Model,
    ModelCreate,
    ModelUpdate,
    Parameter,
    Project,
    Queue,
    QueueEntry,
    QueuePosition,
    Script,
    SeriesData,
    StatusChange,
    Task,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskUpdate,
    Worker,
    WorkerHeartbeat,
)
from tunehouse.store.uploads import BlobUpload, BlobUrl, UploadCompletion, UploadPlan


class _Area:
    def __init__(self, caller: Caller) -> None:
        self._caller = caller


class HttpTaskStore(_Area, TaskStore):
    """Projects and tasks through the server."""

    def get_or_create_project(self, name: str, description: str = "") -> Project:
        return self._caller.call(Project, "tasks.get_or_create_project",
                                 body={"name": name, "description": description})

    def get_project(self, name_or_id: str) -> Project:
        return self._caller.call(Project, "tasks.get_project",
                                 path={"name_or_id": name_or_id})

    def list_projects(self) -> list[Project]:
        return self._caller.call(list[Project], "tasks.list_projects")

    def create_task(self, spec: TaskCreate) -> Task:
        return self._caller.call(Task, "tasks.create_task", body=spec)

    def get_task(self, task_id: str) -> Task:
        return self._caller.call(Task, "tasks.get_task",
                                 path={"task_id": task_id})

    def list_tasks(self, query: TaskQuery) -> TaskPage:
        """The listing's query string: lists (``status``, ``tags``, ``filters``,
        ``columns``...) go as repeated parameters, an empty list as none."""
        return self._caller.call(TaskPage, "tasks.list_tasks",
                                 params=query.model_dump(mode="json", exclude_none=True))

    def update_task(self, task_id: str, update: TaskUpdate) -> Task:
        return self._caller.call(Task, "tasks.update_task",
                                 path={"task_id": task_id}, body=update)

    def change_status(self, task_id: str, change: StatusChange) -> Task:
        return self._caller.call(Task, "tasks.change_status",
                                 path={"task_id": task_id}, body=change)

    def request_abort(self, task_id: str, reason: str = "") -> Task:
        return self._caller.call(Task, "tasks.request_abort",
                                 path={"task_id": task_id}, body={"reason": reason})

    def mark_alive(self, task_id: str) -> Task:
        return self._caller.call(Task, "tasks.mark_alive", path={"task_id": task_id})

    def wait_for_children(self, parent_id: str, since: str | None = None,
                          wait_s: float = 0.0) -> str:
        answer = self._caller.call(dict[str, str], "tasks.wait_for_children",
                                   path={"task_id": parent_id},
                                   params={"since": since, "wait_s": wait_s})
        return answer["version"]

    def reap_lost_tasks(self, lost_after_s: float = LOST_AFTER_S) -> list[Task]:
        return self._caller.call(list[Task], "tasks.reap_lost_tasks",
                                 body={"lost_after_s": lost_after_s})

    def clone_task(self, task_id: str, name: str | None = None, parent_id: str | None = None,
                   project: str | None = None) -> Task:
        body = {key: value for key, value in
                (("name", name), ("parent_id", parent_id), ("project", project))
                if value is not None}
        return self._caller.call(Task, "tasks.clone_task",
                                 path={"task_id": task_id}, body=body)

    def delete_task(self, task_id: str) -> None:
        self._caller.send("tasks.delete_task", path={"task_id": task_id})

    def set_parameters(self, task_id: str, params: list[Parameter], replace: bool = False) -> None:
        self._caller.send("tasks.set_parameters", path={"task_id": task_id}, body=list(params),
                          params={"replace": "true" if replace else "false"})

    def get_parameters(self, task_id: str) -> list[Parameter]:
        return self._caller.call(list[Parameter], "tasks.get_parameters",
                                 path={"task_id": task_id})

    def set_configuration(self, task_id: str, config: Configuration) -> None:
        self._caller.send("tasks.set_configuration", path={"task_id": task_id}, body=config)

    def get_configurations(self, task_id: str) -> list[Configuration]:
        return self._caller.call(list[Configuration], "tasks.get_configurations",
                                 path={"task_id": task_id})

    def set_script(self, task_id: str, script: Script) -> None:
        self._caller.send("tasks.set_script", path={"task_id": task_id}, body=script)

    def get_script(self, task_id: str) -> Script:
        return self._caller.call(Script, "tasks.get_script",
                                 path={"task_id": task_id})

    def set_environment(self, task_id: str, env: Environment) -> None:
        self._caller.send("tasks.set_environment", path={"task_id": task_id}, body=env)

    def get_environment(self, task_id: str) -> Environment:
        return self._caller.call(Environment, "tasks.get_environment",
                                 path={"task_id": task_id})


class HttpEventStore(_Area, EventStore):
    """Scalars and console lines through the server."""

    def add_events(self, batch: EventBatch) -> BatchResult:
        return self._caller.call(BatchResult, "events.add_events", body=batch)

    def get_metric_summaries(self, task_id: str) -> list[MetricSummary]:
        return self._caller.call(list[MetricSummary], "events.get_metric_summaries",
                                 path={"task_id": task_id})

    def get_scalars(self, task_id: str, title: str | None = None, series: str | None = None,
                    max_points: int | None = None) -> list[SeriesData]:
        return self._caller.call(
            list[SeriesData], "events.get_scalars", path={"task_id": task_id},
            params={"title": title, "series": series, "max_points": max_points})

    def get_logs(self, task_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]:
        return self._caller.call(list[LogLine], "events.get_logs",
                                 path={"task_id": task_id},
                                 params={"after_seq": after_seq, "limit": limit})


class HttpArtifactStore(_Area, ArtifactStore):
    """Blobs and artifacts through the server; with object storage the bytes of large
    blobs go straight there (:mod:`tunehouse.client.blob_transfer`), and downloads follow
    the server's redirect to it."""

    def put_blob(self, stream: BinaryIO) -> Blob:
        """Upload a seekable stream of at least ``DIRECT_MIN_BYTES`` as the server plans
        (in parts to the object storage when it has one), anything else through the
        server."""
        size = seekable_size(stream)
        if size is not None and size >= DIRECT_MIN_BYTES:
            blob = upload_direct(stream, size, self.plan_upload, self.complete_upload)
            if blob is not None:
                return blob
        chunks = iter(lambda: stream.read(BLOB_CHUNK), b"")
        response = self._caller.send("artifacts.put_blob", content=chunks,
                                     headers={"Content-Type": "application/octet-stream"})
        return Blob.model_validate_json(response.content)

    def open_blob(self, sha256: str) -> Iterator[bytes]:
        return self._caller.stream("artifacts.open_blob", path={"sha256": sha256})

    def plan_upload(self, spec: BlobUpload) -> UploadPlan:
        return self._caller.call(UploadPlan, "artifacts.plan_upload", body=spec)

    def complete_upload(self, spec: UploadCompletion) -> Blob:
        return self._caller.call(Blob, "artifacts.complete_upload", body=spec)

    def blob_url(self, sha256: str) -> BlobUrl:
        return self._caller.call(BlobUrl, "artifacts.blob_url", path={"sha256": sha256})

    def add_artifact(self, task_id: str, spec: ArtifactCreate) -> Artifact:
        return self._caller.call(Artifact, "artifacts.add_artifact",
                                 path={"task_id": task_id}, body=spec)

    def list_artifacts(self, task_id: str) -> list[Artifact]:
        return self._caller.call(list[Artifact], "artifacts.list_artifacts",
                                 path={"task_id": task_id})


class HttpModelStore(_Area, ModelStore):
    """The model registry through the server."""

    def create_model(self, spec: ModelCreate) -> Model:
        return self._caller.call(Model, "models.create_model", body=spec)

    def get_model(self, model_id: str) -> Model:
        return self._caller.call(Model, "models.get_model",
                                 path={"model_id": model_id})

    def find_model(self, name: str, version: int | None = None, stage: str | None = None) -> Model:
        return self._caller.call(Model, "models.find_model",
                                 params={"name": name, "version": version, "stage": stage})

    def list_models(self, name: str | None = None, task_id: str | None = None) -> list[Model]:
        return self._caller.call(list[Model], "models.list_models",
                                 params={"name": name, "task_id": task_id})

    def update_model(self, model_id: str, update: ModelUpdate) -> Model:
        return self._caller.call(Model, "models.update_model",
                                 path={"model_id": model_id}, body=update)

    def set_model_stage(self, name: str, stage: str, version: int) -> Model:
        return self._caller.call(Model, "models.set_model_stage",
                                 body={"name": name, "stage": stage, "version": version})


class HttpQueueStore(_Area, QueueStore):
    """Queues, claims and workers through the server."""

    def get_or_create_queue(self, name: str) -> Queue:
        return self._caller.call(Queue, "queues.get_or_create_queue",
                                 body={"name": name})

    def list_queues(self) -> list[Queue]:
        return self._caller.call(list[Queue], "queues.list_queues")

    def enqueue(self, task_id: str, queue: str, priority: int = 0) -> Task:
        return self._caller.call(Task, "queues.enqueue",
                                 path={"task_id": task_id},
                                 body={"queue": queue, "priority": priority})

    def dequeue(self, task_id: str) -> Task:
        return self._caller.call(Task, "queues.dequeue",
                                 path={"task_id": task_id})

    def list_queue_entries(self, queue: str) -> list[QueueEntry]:
        return self._caller.call(list[QueueEntry], "queues.list_queue_entries",
                                 path={"queue": queue})

    def move_queued_task(self, task_id: str, position: QueuePosition) -> QueueEntry:
        return self._caller.call(QueueEntry, "queues.move_queued_task",
                                 path={"task_id": task_id},
                                 body={"position": QueuePosition(position).value})

    def delete_queue(self, name: str) -> None:
        self._caller.send("queues.delete_queue", path={"queue": name})

    def claim_task(self, queues: list[str], worker: str, wait_s: float = 0.0,
                   lease_s: float = LEASE_S) -> Task | None:
        return self._caller.call(Task | None, "queues.claim_task",
                                 body={"queues": list(queues), "worker": worker,
                                       "wait_s": wait_s, "lease_s": lease_s})

    def heartbeat(self, beat: WorkerHeartbeat) -> HeartbeatReply:
        return self._caller.call(HeartbeatReply, "queues.heartbeat", body=beat)

    def reap_expired_leases(self, lost_worker_retries: int = 2) -> list[Task]:
        return self._caller.call(list[Task], "queues.reap_expired_leases",
                                 body={"lost_worker_retries": lost_worker_retries})

    def list_workers(self, max_age_s: float | None = None) -> list[Worker]:
        return self._caller.call(list[Worker], "queues.list_workers",
                                 params={"max_age_s": max_age_s})
