"""ClearML's ``workers`` service on tunehouse's workers: ``clearml-agent`` registers,
reports its status every few seconds (``agent.status_report`` period, 30 s by default)
and unregisters. Each report is a tunehouse heartbeat: it renews the lease of the task
the worker reports running (:mod:`.queues` claimed it for that worker), so a worker
that stops reporting loses its task to the watchdog after ``clearml_lease_s``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tunehouse.compat.clearml.call import Call, Handler
from tunehouse.compat.clearml.queues import queue_names
from tunehouse.errors import NotFound
from tunehouse.store.base import Store
from tunehouse.store.records import Task, TaskStatus, Worker, WorkerHeartbeat

#: The lease of an unregistered worker: the watchdog's next pass removes it.
_GONE_S = 0.001


def _known(store: Store, name: str) -> Worker | None:
    return next((w for w in store.queues.list_workers() if w.name == name), None)


def _running(call: Call, task_id: str | None) -> Task | None:
    """Task ``task_id`` when the caller claimed it and it runs."""
    if not task_id:
        return None
    try:
        task = call.store.tasks.get_task(task_id)
    except NotFound:
        return None
    if task.status is TaskStatus.in_progress and task.runner == call.user and task.worker:
        return task
    return None


def _beat(call: Call, queues: list[str] | None, task_id: str | None = None,
          lease_s: float | None = None) -> Worker:
    """Send the heartbeat of the call's ``worker`` (its queues unchanged when ``queues`` is
    None) renewing the lease of ``task_id`` when it holds it."""
    body = call.body
    name = body.req_text("worker")
    known = _known(call.store, name)
    names = queue_names(call.store, queues, f"worker {name}") if queues is not None \
        else (known.queues if known else [])
    task = _running(call, task_id)
    held = {task.id: task.attempt} if task is not None and task.worker == name else {}
    stats = body.obj("machine_stats") or {}
    beat = WorkerHeartbeat(name=name, host=name.split(":", 1)[0], queues=names, tasks=held,
                           slots=1, free_slots=0 if task else 1, stats=stats,
                           lease_s=lease_s or call.lease_s)
    worker = call.store.queues.heartbeat(beat).worker
    if task is not None and task.worker and not held:
        # claimed under another of the caller's workers (see queues._puller): renew there
        other = _known(call.store, task.worker)
        call.store.queues.heartbeat(WorkerHeartbeat(
            name=task.worker, host=other.host if other else "",
            queues=other.queues if other else names, tasks={task.id: task.attempt},
            slots=1, free_slots=0, lease_s=lease_s or call.lease_s))
    return worker


def register(call: Call) -> dict[str, Any]:
    """``workers.register``: the worker and the queues it serves."""
    _beat(call, call.body.texts("queues") or [])
    return {}


def status_report(call: Call) -> dict[str, Any]:
    """``workers.status_report``: a sign of life, renewing the lease of its ``task``."""
    body = call.body
    _beat(call, body.texts("queues"), body.text("task"))
    return {}


def unregister(call: Call) -> dict[str, Any]:
    """``workers.unregister``: the worker's record ends (the watchdog's next pass removes
    it); a task it still holds keeps its lease until that runs out."""
    _beat(call, [], lease_s=_GONE_S)
    return {}


def _time(value: datetime) -> str:
    return value.isoformat()


def worker_dict(worker: Worker, queues: dict[str, str]) -> dict[str, Any]:
    """A tunehouse worker as ClearML's worker object (``queues``: queue name → id)."""
    return {"id": worker.name, "user": {"id": worker.user, "name": worker.user},
            "company": {"id": "tunehouse", "name": "tunehouse"}, "ip": "",
            "register_time": _time(worker.registered),
            "last_activity_time": _time(worker.last_heartbeat),
            "last_report_time": _time(worker.last_heartbeat),
            "task": {"id": worker.tasks[0], "name": ""} if worker.tasks else None,
            "queues": [{"id": queues.get(name, ""), "name": name} for name in worker.queues],
            "tags": [], "system_tags": [], "key": worker.name}


def get_all(call: Call) -> dict[str, Any]:
    """``workers.get_all``: the workers seen within ``last_seen`` seconds (all by default)."""
    last_seen = call.body.integer("last_seen")
    workers = call.store.queues.list_workers(max_age_s=last_seen)
    queues = {q.name: q.id for q in call.store.queues.list_queues()}  # once for all
    return {"workers": [worker_dict(worker, queues) for worker in workers]}


def get_runtime_properties(call: Call) -> dict[str, Any]:
    """``workers.get_runtime_properties``: tunehouse keeps none (the agent's uptime and
    downtime schedules from the server are not supported), so the list is empty."""
    call.body.req_text("worker")
    return {"runtime_properties": []}


ACTIONS: dict[str, Handler] = {
    "workers.register": register, "workers.status_report": status_report,
    "workers.unregister": unregister, "workers.get_all": get_all,
    "workers.get_runtime_properties": get_runtime_properties,
}

#: ClearML's worker endpoints not served yet.
NOT_YET = frozenset({"workers.set_runtime_properties", "workers.get_stats",
                     "workers.get_activity_report", "workers.get_metric_keys",
                     "workers.cluster_report"})
