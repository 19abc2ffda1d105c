"""Queues and workers: every queue with its waiting tasks in claim order (move one to the
front or the back, or take it out of its queue), and every worker with its heartbeat,
slots, running tasks and the CPU, memory and GPU use its agent last reported.

Queues are shared, their tasks are not: a waiting task of a project the user may not read
is shown in its place as "a task you cannot see", without its name, link, project or
buttons.

``queues.js`` does the moves through the JSON API and refreshes the page's live part
every few seconds by fetching this page again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tunehouse.errors import NotFound, PermissionDenied
from tunehouse.server.ui.pages import Page
from tunehouse.server.ui.render import render
from tunehouse.store.records import Queue, QueueEntry, Task, TaskQuery, TaskStatus, Worker

router = APIRouter()

#: Entries of one queue shown (the rest are counted).
SHOWN_PER_QUEUE = 200
#: Names of queued and running tasks are read in one listing of at most this many each.
NAMES_READ = 1000
#: GPUs shown per worker.
SHOWN_GPUS = 16


@dataclass
class EntryRow:
    """A waiting task: its claim position, entry and name (None: a task of a project the
    user may not read)."""

    position: int
    entry: QueueEntry
    name: str | None


@dataclass
class QueueRow:
    queue: Queue
    entries: list[EntryRow]
    hidden: int


@dataclass
class GpuRow:
    """One GPU as the agent reported it (missing or malformed values are None)."""

    label: str
    utilization: float | None
    memory_used_mb: float | None
    memory_total_mb: float | None


@dataclass
class WorkerRow:
    worker: Worker
    tasks: list[tuple[str, str]]
    cpu_percent: float | None = None
    memory_percent: float | None = None
    memory_used_gb: float | None = None
    memory_total_gb: float | None = None
    gpus: list[GpuRow] = field(default_factory=list)


@router.get("/queues")
def queues_page(request: Request, who: Page) -> Response:
    """Queues with their waiting tasks, and the workers."""
    store = who.store
    queued = _names(who, TaskStatus.queued)
    running = _names(who, TaskStatus.in_progress)
    rows = []
    for queue in store.queues.list_queues():
        entries = store.queues.list_queue_entries(queue.name)
        shown = []
        for position, entry in enumerate(entries[:SHOWN_PER_QUEUE], start=1):
            name = queued.get(entry.task_id)
            if name is None:
                try:
                    name = _task_name(who, entry.task_id)
                except NotFound:
                    continue  # gone by now
            shown.append(EntryRow(position, entry, name))
        rows.append(QueueRow(queue, shown, max(0, len(entries) - SHOWN_PER_QUEUE)))
    workers = sorted(store.queues.list_workers(), key=lambda w: w.name)
    return render(request, "queues.html", title="Queues & workers · tunehouse", user=who.user,
                  queues=rows, workers=[_worker_row(w, running) for w in workers])


def _names(who: Page, status: TaskStatus) -> dict[str, str]:
    """Names of (up to :data:`NAMES_READ`) tasks in ``status``, by id: one read."""
    page = who.store.tasks.list_tasks(TaskQuery(status=[status], limit=NAMES_READ))
    return {task.id: task.name for task in page.tasks}


def _task_name(who: Page, task_id: str) -> str | None:
    """The name of one task not in the listing; None when the user may not read it.

    Raises:
        NotFound: it is gone by now.
    """
    try:
        task: Task = who.store.tasks.get_task(task_id)
    except PermissionDenied:
        return None
    return task.name


def _number(value: Any) -> float | None:
    """``value`` as a finite float, else None (stats come from agents: trust nothing)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _worker_row(worker: Worker, running: dict[str, str]) -> WorkerRow:
    stats = worker.stats if isinstance(worker.stats, dict) else {}
    gpus = []
    reported = stats.get("gpus")
    for index, gpu in enumerate(reported[:SHOWN_GPUS] if isinstance(reported, list) else []):
        if not isinstance(gpu, dict):
            continue
        label = f"GPU {gpu.get('index', index)}"
        if isinstance(gpu.get("name"), str) and gpu["name"]:
            label += f" · {gpu['name'][:64]}"
        gpus.append(GpuRow(label, _number(gpu.get("utilization_percent")),
                           _number(gpu.get("memory_used_mb")),
                           _number(gpu.get("memory_total_mb"))))
    return WorkerRow(
        worker=worker, tasks=[(task_id, running.get(task_id, task_id)) for task_id in worker.tasks],
        cpu_percent=_number(stats.get("cpu_percent")),
        memory_percent=_number(stats.get("memory_used_percent")),
        memory_used_gb=_number(stats.get("memory_used_gb")),
        memory_total_gb=_number(stats.get("memory_total_gb")), gpus=gpus)
