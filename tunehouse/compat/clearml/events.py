"""ClearML's ``events`` service: ``events.add_batch`` stores scalars, console lines and
plots of tasks as tunehouse scalar series, log events and artifacts.

The body is newline-delimited JSON, one event an object per line (``type``, ``task``,
``timestamp`` in ms, ``iter``, and per type ``metric``/``variant``/``value``,
``msg``/``level`` or ``plot_str``). Events are grouped by task and each task's share is
one tunehouse batch, its id the hash of its lines: a batch the SDK sends again after a
lost answer is stored once. A debug image (``training_debug_image``: the SDK uploads the
image to the file server first, then sends its ``url``; TensorBoard's ``write_images``
through the SDK's binding) becomes an artifact of its task naming the image file's blob,
so the image of each iteration stays even when the SDK reuses the file's name. Events
tunehouse does not keep (vectors, model events, images not on tunehouse's file server)
are counted in ``errors`` with the reason in ``errors_info``, never dropped silently.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from tunehouse.compat.clearml.call import Call, Handler
from tunehouse.compat.clearml.envelope import ApiError, bad_request
from tunehouse.compat.clearml.paths import artifact_name, file_path
from tunehouse.errors import NotFound, PermissionDenied
from tunehouse.store.base import Store
from tunehouse.store.records import (
    NAME_MAX,
    Artifact,
    ArtifactCreate,
    EventBatch,
    LogEvent,
    ScalarEvent,
)

#: Log levels whose lines are tunehouse's ``stderr`` stream.
_STDERR_LEVELS = frozenset({"error", "critical", "fatal"})
#: The artifact kind of a ClearML plot (its Plotly JSON).
PLOT_KIND = "clearml-plot"
#: The artifact kind of a ClearML debug image (the blob of its file on the file server).
DEBUG_IMAGE_KIND = "clearml-debug-image"
_NO_IMAGE_FILE = ("training_debug_image events whose url is not a file of tunehouse's file "
                  "server are not supported by tunehouse yet")


@dataclass
class _TaskEvents:
    scalars: list[ScalarEvent] = field(default_factory=list)
    logs: list[LogEvent] = field(default_factory=list)
    plots: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    digest: Any = field(default_factory=hashlib.sha256)
    #: How many of the batch's events these are (a log event may hold several lines).
    count: int = 0


def parse_lines(raw: bytes) -> list[dict[str, Any]]:
    """The events of an ``add_batch`` body; 400 naming the line that is not an object."""
    found = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"events.add_batch: line {number} is not JSON: {exc}") from None
        if not isinstance(event, dict):
            raise bad_request(f"events.add_batch: line {number} is not a JSON object")
        found.append(event)
    return found


def add_batch(call: Call) -> dict[str, Any]:
    """``events.add_batch``: store the body's events, task by task."""
    raw = call.body.raw
    events = parse_lines(raw)
    per_task: dict[str, _TaskEvents] = {}
    errors: dict[str, int] = {}
    for number, event in enumerate(events, start=1):
        reason = _collect(event, number, per_task)
        if reason:
            errors[reason] = errors.get(reason, 0) + 1
    added = 0
    for task_id, found in per_task.items():
        added += _store(call.store, task_id, found, errors)
    return {"added": added, "errors": sum(errors.values()), "errors_info": errors}


def _collect(event: dict[str, Any], number: int, per_task: dict[str, _TaskEvents]) -> str:
    """Put ``event`` with its task's; the reason it is not kept, or ''."""
    kind = event.get("type")
    task_id = event.get("task")
    if event.get("model_event"):
        return "model events are not supported by tunehouse yet"
    if not isinstance(task_id, str) or not task_id:
        raise bad_request(f"events.add_batch: event {number} has no task")
    iteration = event.get("iter", 0)
    if isinstance(iteration, float) and iteration.is_integer():
        iteration = int(iteration)
    if isinstance(iteration, bool) or not isinstance(iteration, int):
        raise bad_request(f"events.add_batch: event {number}: iter must be an integer")
    stamp = event.get("timestamp")
    wall = stamp / 1000.0 if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) \
        else 0.0
    found = per_task.setdefault(task_id, _TaskEvents())
    if kind == "training_stats_scalar":
        metric, variant, value = event.get("metric"), event.get("variant"), event.get("value")
        if not isinstance(metric, str) or not isinstance(variant, str):
            raise bad_request(f"events.add_batch: event {number}: metric and variant must "
                              "be strings")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_request(f"events.add_batch: event {number}: value must be a number")
        number_value = float(value)
        found.scalars.append(ScalarEvent(metric, variant, iteration,
                                         number_value if math.isfinite(number_value) else None,
                                         wall))
    elif kind == "log":
        msg = event.get("msg", "")
        if not isinstance(msg, str):
            raise bad_request(f"events.add_batch: event {number}: msg must be a string")
        level = str(event.get("level", "info")).lower()
        stream = "stderr" if level in _STDERR_LEVELS else "stdout"
        for line in msg.splitlines() or [""]:
            found.logs.append(LogEvent(stream, line, wall))
    elif kind == "plot":
        plot = event.get("plot_str")
        if not isinstance(plot, str):
            raise bad_request(f"events.add_batch: event {number}: plot_str must be a string")
        found.plots.append({"metric": str(event.get("metric", "")),
                            "variant": str(event.get("variant", "")),
                            "iter": iteration, "plot_str": plot})
    elif kind == "training_debug_image":
        metric, variant, url = event.get("metric"), event.get("variant"), event.get("url")
        if not all(isinstance(text, str) for text in (metric, variant, url)):
            raise bad_request(f"events.add_batch: event {number}: metric, variant and url "
                              "must be strings")
        path = file_path(str(url))
        if path is None:
            return _NO_IMAGE_FILE
        found.images.append({"metric": metric, "variant": variant, "iter": iteration,
                             "url": url, "path": path})
    else:
        return f"events of type {kind!r} are not supported by tunehouse yet"
    found.digest.update(json.dumps(event, sort_keys=True).encode())
    found.count += 1
    return ""


def _store(store: Store, task_id: str, found: _TaskEvents, errors: dict[str, int]) -> int:
    """Store one task's events; how many were added (those not kept counted in
    ``errors``)."""
    if found.scalars or found.logs:
        batch_id = "clearml-" + found.digest.hexdigest()[:48]
        store.events.add_events(EventBatch(batch_id=batch_id, task_id=task_id,
                                           scalars=found.scalars, logs=found.logs))
    for plot in found.plots:
        data = plot["plot_str"].encode()
        blob = store.artifacts.put_blob(io.BytesIO(data))
        name = f"plot/{plot['metric']}/{plot['variant']}/{plot['iter']}"
        store.artifacts.add_artifact(task_id, ArtifactCreate(
            name=name[:NAME_MAX], kind=PLOT_KIND, sha256=blob.sha256, size=blob.size,
            content_type="application/json",
            metadata={"metric": plot["metric"], "variant": plot["variant"],
                      "iteration": plot["iter"]}))
    images = _debug_images(store, task_id, found.images)
    lost = len(found.images) - images
    if lost:
        errors[_NO_IMAGE_FILE] = errors.get(_NO_IMAGE_FILE, 0) + lost
    return found.count - lost


def _debug_images(store: Store, task_id: str, images: list[dict[str, Any]]) -> int:
    """Keep each debug image as an artifact of ``task_id`` naming the blob of its file on
    the file server (read with the caller's rights); how many were kept."""
    files: dict[str, dict[str, Artifact]] = {}  # the file server's files, per task
    kept = 0
    for image in images:
        try:
            file_task, name = artifact_name(image["path"])
            if file_task not in files:
                files[file_task] = {a.name: a for a in store.artifacts.list_artifacts(file_task)}
        except (ApiError, NotFound, PermissionDenied):
            continue
        stored = files[file_task].get(name)
        if stored is None:
            continue
        label = f"debug_image/{image['metric']}/{image['variant']}/{image['iter']}"
        store.artifacts.add_artifact(task_id, ArtifactCreate(
            name=label[:NAME_MAX], kind=DEBUG_IMAGE_KIND, sha256=stored.sha256,
            size=stored.size, content_type=stored.content_type,
            metadata={"metric": image["metric"], "variant": image["variant"],
                      "iteration": image["iter"], "url": image["url"]}))
        kept += 1
    return kept


def scalar_metrics_iter_histogram(call: Call) -> dict[str, Any]:
    """``events.scalar_metrics_iter_histogram``: every scalar series of a task,
    ``{title: {series: {name, x, y}}}`` by iteration (``samples`` downsamples each series
    to about that many points, first and last kept). Only ``key=iter`` is served."""
    body = call.body
    task_id = body.req_text("task")
    key = body.text("key", "iter")
    if key != "iter":
        raise bad_request(f"events.scalar_metrics_iter_histogram: key {key!r} is not "
                          "supported by tunehouse yet (only iter)")
    samples = body.integer("samples")
    if samples is not None and samples < 1:
        raise bad_request("events.scalar_metrics_iter_histogram: samples must be >= 1")
    found: dict[str, dict[str, Any]] = {}
    for data in call.store.events.get_scalars(task_id, max_points=samples):
        found.setdefault(data.title, {})[data.series] = {
            "name": data.series, "x": data.x,
            "y": data.y}  # a missing value (NaN, inf reported) is null
    return found


ACTIONS: dict[str, Handler] = {
    "events.add_batch": add_batch,
    "events.scalar_metrics_iter_histogram": scalar_metrics_iter_histogram,
}

#: ClearML's event endpoints not served yet.
NOT_YET = frozenset({
    "events.add", "events.get_task_log", "events.get_task_events",
    "events.get_scalar_metrics_and_variants", "events.get_task_plots",
    "events.get_debug_images",
    "events.get_task_metrics", "events.get_multi_task_plots", "events.delete_for_task",
    "events.get_task_latest_scalar_values", "events.debug_images", "events.plots",
})
