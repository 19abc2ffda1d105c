"""ClearML's task model ↔ tunehouse's: statuses, types, sections, script, requirements.

A ClearML task is a tunehouse task like any other (docs/clearml.md has the table).
What ClearML keeps that tunehouse has no field for (``runtime``, ``system_tags``,
configuration types, requirement kinds other than pip, the script's binary and tag,
``container``, the output destination) is kept in the task's environment under
``extra["clearml"]``, so it reads back as written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tunehouse.common.environment_extra import CLEARML_KEY
from tunehouse.compat.clearml.envelope import bad_request
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Configuration,
    Environment,
    MetricSummary,
    Parameter,
    Script,
    Task,
    TaskStatus,
    TaskType,
)

#: tunehouse status → ClearML status.
STATUS_TO_CLEARML: dict[TaskStatus, str] = {
    TaskStatus.created: "created",
    TaskStatus.queued: "queued",
    TaskStatus.in_progress: "in_progress",
    TaskStatus.completed: "completed",
    TaskStatus.failed: "failed",
    TaskStatus.aborted: "stopped",
}
#: ClearML status → tunehouse status (filters; ``closed`` is ClearML's old ``completed``).
STATUS_FROM_CLEARML: dict[str, TaskStatus] = {
    **{name: status for status, name in STATUS_TO_CLEARML.items()}, "closed": TaskStatus.completed}
#: ClearML task types tunehouse has; the others are refused with a 400 naming them.
TYPES = frozenset(t.value for t in TaskType)
#: The key of ``Environment.extra`` holding what only ClearML has.
EXTRA_KEY = CLEARML_KEY
#: Fields of a task the SDK may ask for (``only_fields`` first parts).
FIELDS = ("id", "name", "user", "company", "type", "status", "comment", "created", "started",
          "completed", "parent", "project", "output", "execution", "container", "models",
          "script", "tags", "system_tags", "status_changed", "status_message",
          "status_reason", "last_worker", "last_update", "last_change", "last_iteration",
          "last_metrics", "hyperparams", "configuration", "runtime", "active_duration")
_DETAIL_FIELDS = frozenset({"script", "execution", "output", "container", "hyperparams",
                            "configuration", "runtime", "system_tags", "models"})


def task_type(name: str) -> TaskType:
    """The tunehouse type of ClearML type ``name``; 400 for types tunehouse lacks."""
    if name not in TYPES:
        raise bad_request(f"task type {name!r} is not supported by tunehouse "
                          f"(supported: {', '.join(sorted(TYPES))})")
    return TaskType(name)


def md5(text: str) -> str:
    """The hex MD5 of ``text``: the keys of ``last_metrics`` (title, then series)."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def clearml_extra(env: Environment) -> dict[str, Any]:
    """What only ClearML has of a task (a copy; {} when nothing)."""
    extra = env.extra.get(EXTRA_KEY)
    return dict(extra) if isinstance(extra, dict) else {}


def with_extra(env: Environment, **changes: Any) -> Environment:
    """``env`` with ``changes`` merged into its ClearML part."""
    extra = clearml_extra(env)
    extra.update(changes)
    return env.model_copy(update={"extra": {**env.extra, EXTRA_KEY: extra}})


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def hyperparams(params: Iterable[Parameter]) -> dict[str, dict[str, dict[str, str]]]:
    """tunehouse parameters as ClearML's ``{section: {name: item}}``."""
    sections: dict[str, dict[str, dict[str, str]]] = {}
    for param in params:
        sections.setdefault(param.section, {})[param.name] = {
            "section": param.section, "name": param.name, "value": param.value,
            "type": param.type, "description": param.description}
    return sections


def last_metrics(summaries: Iterable[MetricSummary]) -> dict[str, dict[str, dict[str, Any]]]:
    """Metric summaries as ClearML's ``last_metrics[md5(title)][md5(series)]``."""
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    for summary in summaries:
        metrics.setdefault(md5(summary.title), {})[md5(summary.series)] = {
            "metric": summary.title, "variant": summary.series, "value": summary.last,
            "min_value": summary.min, "max_value": summary.max, "count": summary.count,
            "last_iteration": summary.last_iteration}
    return metrics


def script_dict(script: Script, env: Environment) -> dict[str, Any]:
    """A task's ClearML ``script``: the recorded script, requirements from the environment."""
    extra = clearml_extra(env)
    requirements = dict(extra.get("requirements") or {})
    if "pip" not in requirements and env.packages:
        requirements["pip"] = "\n".join(env.packages)
    kept = extra.get("script") or {}
    return {"binary": kept.get("binary", "python"), "tag": kept.get("tag"),
            "repository": script.repository, "branch": script.branch,
            "version_num": script.commit, "entry_point": script.entry_point,
            "working_dir": script.working_dir,
            # a script outside git travels as its whole text in ``diff`` (ClearML's way)
            "diff": script.diff or ("" if script.repository else script.script_text),
            "requirements": requirements}


def configuration_dict(configs: Iterable[Configuration], env: Environment) -> dict[str, Any]:
    """A task's ClearML ``configuration``: ``{name: {name, value, type, description}}``."""
    types = clearml_extra(env).get("configuration_types") or {}
    return {config.name: {"name": config.name, "value": config.text,
                          "type": types.get(config.name, ""),
                          "description": config.description} for config in configs}


def _queue_id(store: Store, name: str | None) -> str | None:
    """The id of the queue called ``name`` (ClearML names queues by id)."""
    if not name:
        return None
    return next((q.id for q in store.queues.list_queues() if q.name == name), None)


def to_clearml(store: Store, task: Task, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """``task`` as ClearML's task object; with ``fields``, only those (and ``id``), each
    read from the store only when asked for."""
    wanted = set(FIELDS) if fields is None else {field.split(".")[0] for field in fields} | {"id"}
    env = store.tasks.get_environment(task.id) if wanted & (_DETAIL_FIELDS | {"script"}) \
        else Environment()
    extra = clearml_extra(env)
    out: dict[str, Any] = {
        "id": task.id, "name": task.name, "user": task.user, "company": "tunehouse",
        "type": task.type.value, "status": STATUS_TO_CLEARML[task.status],
        "comment": task.comment, "created": _time(task.created),
        "started": _time(task.started), "completed": _time(task.completed),
        "parent": task.parent_id, "project": task.project_id, "tags": task.tags,
        "system_tags": extra.get("system_tags", []), "status_changed": _time(task.updated),
        # clearml-agent stops a running task whose status message says "stopping"
        "status_message": "stopping" if task.abort_requested and
        task.status is TaskStatus.in_progress else task.status_message,
        "status_reason": task.status_reason,
        "last_worker": task.worker, "last_update": _time(task.updated),
        "last_change": _time(task.updated), "last_iteration": task.last_iteration or 0,
        "active_duration": None,
        "runtime": extra.get("runtime", {}), "container": extra.get("container", {}),
        "output": {"destination": extra.get("output_destination")},
        "execution": {"queue": _queue_id(store, task.queue), "parameters": {},
                      "artifacts": extra.get("artifacts", []),
                      "docker_cmd": extra.get("docker_cmd")},
        "models": {"input": [], "output": [], **(extra.get("models") or {})},
    }
    if "script" in wanted:
        out["script"] = script_dict(store.tasks.get_script(task.id), env)
    if "hyperparams" in wanted:
        out["hyperparams"] = hyperparams(store.tasks.get_parameters(task.id))
    if "configuration" in wanted:
        out["configuration"] = configuration_dict(store.tasks.get_configurations(task.id), env)
    if "last_metrics" in wanted:
        out["last_metrics"] = last_metrics(store.events.get_metric_summaries(task.id))
    return {key: value for key, value in out.items() if key in wanted}
