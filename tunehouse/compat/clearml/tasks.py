"""ClearML's ``tasks`` service on the tunehouse store: create, read, edit and move tasks
through their statuses (listing is :mod:`.tasks_query`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunehouse.compat.clearml.body import Body, nested_dict, text_of
from tunehouse.compat.clearml.call import Call, Handler
from tunehouse.compat.clearml.envelope import bad_request
from tunehouse.compat.clearml.queues import find_queue
from tunehouse.compat.clearml.task_model import (
    STATUS_TO_CLEARML,
    TYPES,
    clearml_extra,
    task_type,
    to_clearml,
    with_extra,
)
from tunehouse.compat.clearml.tasks_query import get_all
from tunehouse.store.base import Store
from tunehouse.store.interfaces.queues import DEFAULT_QUEUE
from tunehouse.store.records import (
    Configuration,
    Parameter,
    Script,
    StatusChange,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
)

S = TaskStatus


def _task_id(body: Body) -> str:
    return body.req_text("task")


def _project_name(store: Store, project_id: str | None) -> str:
    if not project_id:
        return "default"
    return store.tasks.get_project(project_id).name


def create(call: Call) -> dict[str, Any]:
    """``tasks.create``: a new ``created`` task with what the call sets (as ``edit``);
    the whole call is checked before anything is written."""
    body = call.body
    kind = body.req_text("type")
    changes = _Edit.of(body)
    spec = TaskCreate(project=_project_name(call.store, body.text("project")),
                      name=body.req_text("name"), type=task_type(kind),
                      tags=body.texts("tags") or [], comment=body.text("comment") or "",
                      parent_id=body.text("parent"))
    task = call.store.tasks.create_task(spec)
    changes.apply(call.store, task.id)
    return {"id": task.id}


def get_by_id(call: Call) -> dict[str, Any]:
    """``tasks.get_by_id``: the whole task."""
    task = call.store.tasks.get_task(_task_id(call.body))
    return {"task": to_clearml(call.store, task)}


def edit(call: Call) -> dict[str, Any]:
    """``tasks.edit``: name, comment, tags, script, hyperparams (replaced whole),
    configuration, runtime... of a ``created`` task (``force`` for others); the whole
    call is checked before anything is written."""
    body = call.body
    task = call.store.tasks.get_task(_task_id(body))
    if task.status is not S.created and not body.flag("force"):
        raise bad_request(f"tasks.edit: task {task.id} is {STATUS_TO_CLEARML[task.status]}; "
                          "only created tasks are edited (send force=true)")
    kind = body.text("type")
    if kind is not None and kind != task.type.value:
        raise bad_request("tasks.edit: changing a task's type is not supported by tunehouse")
    update = TaskUpdate(name=body.text("name"), comment=body.text("comment"),
                        tags=body.texts("tags"))
    changes = _Edit.of(body)
    if update.model_dump(exclude_none=True):
        call.store.tasks.update_task(task.id, update)
    changes.apply(call.store, task.id)
    return {"updated": 1, "fields": {}}


@dataclass
class _Edit:
    """What ``create`` and ``edit`` set beyond the task's own fields, checked: hyperparams,
    configuration, script, and what only ClearML has (``Environment.extra``)."""

    params: list[Parameter] | None = None
    configs: list[Configuration] = field(default_factory=list)
    config_types: dict[str, str] = field(default_factory=dict)
    script: Script | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, body: Body) -> _Edit:
        """The changes ``body`` asks for; 400 naming the first wrong field."""
        found = cls()
        hyper = body.obj("hyperparams")
        if hyper is not None:
            found.params = _parameters(hyper)
        for name, item in (body.obj("configuration") or {}).items():
            where = f"configuration.{name}"
            if not isinstance(item, dict):
                raise bad_request(f"{where} must be an object")
            found.configs.append(Configuration(name=name, text=text_of(item, "value", where),
                                               description=text_of(item, "description", where)))
            found.config_types[name] = text_of(item, "type", where)
        script = body.obj("script")
        if script is not None:
            found.script = _script(script)
            found.extra["script"] = {"binary": text_of(script, "binary", "script") or "python",
                                     "tag": text_of(script, "tag", "script")}
            requirements = nested_dict(script, "requirements", "script")
            if requirements:
                found.extra["requirements"] = requirements
        for name in ("runtime", "container"):
            value = body.obj(name)
            if value is not None:
                found.extra[name] = value
        if body.has("system_tags"):
            found.extra["system_tags"] = body.texts("system_tags")
        output = body.text("output_dest")
        if output is not None:
            found.extra["output_destination"] = output
        return found

    def apply(self, store: Store, task_id: str) -> None:
        """Write the changes to task ``task_id``."""
        if self.params is not None:
            store.tasks.set_parameters(task_id, self.params, replace=True)
        for config in self.configs:
            store.tasks.set_configuration(task_id, config)
        if self.script is not None:
            store.tasks.set_script(task_id, self.script)
        extra = dict(self.extra)
        if self.config_types:
            env = store.tasks.get_environment(task_id)
            extra["configuration_types"] = {
                **(clearml_extra(env).get("configuration_types") or {}), **self.config_types}
        if extra:
            _save_extra(store, task_id, extra)
            if "requirements" in extra:
                _save_packages(store, task_id, extra["requirements"])


def _save_extra(store: Store, task_id: str, changes: dict[str, Any]) -> None:
    env = store.tasks.get_environment(task_id)
    store.tasks.set_environment(task_id, with_extra(env, **changes))


def _save_packages(store: Store, task_id: str, requirements: dict[str, Any]) -> None:
    """The pip requirements' lines as the environment's packages (comments dropped)."""
    pip = requirements.get("pip")
    if not isinstance(pip, str):
        return
    packages = [line.strip() for line in pip.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    env = store.tasks.get_environment(task_id)
    store.tasks.set_environment(task_id, env.model_copy(update={"packages": packages}))


def _parameters(hyper: dict[str, Any]) -> list[Parameter]:
    params = []
    for section, items in hyper.items():
        if not isinstance(items, dict):
            raise bad_request(f"hyperparams.{section} must be an object")
        for name, item in items.items():
            where = f"hyperparams.{section}.{name}"
            if not isinstance(item, dict):
                raise bad_request(f"{where} must be an object")
            params.append(Parameter(section=section, name=text_of(item, "name", where) or name,
                                    value=text_of(item, "value", where),
                                    type=text_of(item, "type", where) or "str",
                                    description=text_of(item, "description", where)))
    return params


def _script(script: dict[str, Any]) -> Script:
    def text(name: str) -> str:
        return text_of(script, name, "script")
    return Script(repository=text("repository"), branch=text("branch"),
                  commit=text("version_num"), entry_point=text("entry_point"),
                  working_dir=text("working_dir"), diff=text("diff"))


def set_requirements(call: Call) -> dict[str, Any]:
    """``tasks.set_requirements``: the requirements (``pip`` lines become the packages)."""
    task_id = _task_id(call.body)
    requirements = call.body.obj("requirements")
    if requirements is None:
        raise bad_request("missing required field 'requirements'")
    _save_extra(call.store, task_id, {"requirements": requirements})
    _save_packages(call.store, task_id, requirements)
    return {"updated": 1, "fields": {}}


def _move(call: Call, status: TaskStatus) -> dict[str, Any]:
    """Move the call's task to ``status``; a ``created`` task is started first on its way
    to an end status (ClearML completes or fails tasks that never started)."""
    body = call.body
    task_id = _task_id(body)
    reason, message = body.text("status_reason") or "", body.text("status_message") or ""
    task = call.store.tasks.get_task(task_id)
    if task.status is S.created and status in (S.completed, S.failed):
        call.store.tasks.change_status(task_id, StatusChange(status=S.in_progress))
    change = StatusChange(status=status, reason=reason, message=message,
                          force=body.flag("force"), keep_if_same=True)
    task = call.store.tasks.change_status(task_id, change)
    return {"updated": 1, "fields": {"status": STATUS_TO_CLEARML[task.status]}}


def started(call: Call) -> dict[str, Any]:
    """``tasks.started``: the task runs (``in_progress``)."""
    result = _move(call, S.in_progress)
    result["started"] = 1
    return result


def completed(call: Call) -> dict[str, Any]:
    """``tasks.completed`` (also ``tasks.close``): the task ended well."""
    return _move(call, S.completed)


def failed(call: Call) -> dict[str, Any]:
    """``tasks.failed``: the task ended in failure."""
    return _move(call, S.failed)


def stopped(call: Call) -> dict[str, Any]:
    """``tasks.stopped``: the task's process stopped it (tunehouse ``aborted``)."""
    return _move(call, S.aborted)


def stop(call: Call) -> dict[str, Any]:
    """``tasks.stop``: ask a running task to stop (tunehouse's abort request)."""
    body = call.body
    task = call.store.tasks.request_abort(_task_id(body), body.text("status_reason") or "")
    return {"updated": 1, "fields": {"status": STATUS_TO_CLEARML[task.status]}}


def reset(call: Call) -> dict[str, Any]:
    """``tasks.reset``: back to ``created``, its scalars, console and artifacts dropped."""
    body = call.body
    call.store.tasks.change_status(_task_id(body), StatusChange(
        status=S.created, force=body.flag("force"), keep_if_same=True))
    return {"updated": 1, "fields": {"status": "created"}, "dequeued": {}, "events": {},
            "deleted_models": 0, "urls": {}}


def enqueue(call: Call) -> dict[str, Any]:
    """``tasks.enqueue``: put a ``created`` task in the queue ``queue`` (an id) or
    ``queue_name`` (created when missing), or ``default``. A ``stopped`` (aborted) task
    is reset first, as ``task.execute_remotely()`` expects: its scalars, console and
    artifacts of the local start are dropped, its code and parameters kept."""
    body = call.body
    task_id = _task_id(body)
    if call.store.tasks.get_task(task_id).status is S.aborted:
        call.store.tasks.change_status(task_id, StatusChange(status=S.created, force=True))
    queue_id, queue_name = body.text("queue"), body.text("queue_name")
    if queue_id:
        name = find_queue(call.store, queue_id, "tasks.enqueue").name
    else:
        name = call.store.queues.get_or_create_queue(queue_name or DEFAULT_QUEUE).name
    task = call.store.queues.enqueue(task_id, name)
    return {"updated": 1, "queued": 1,
            "fields": {"status": STATUS_TO_CLEARML[task.status], "execution.queue": name}}


def dequeue(call: Call) -> dict[str, Any]:
    """``tasks.dequeue``: take a queued task back out of its queue (``created``)."""
    task = call.store.queues.dequeue(_task_id(call.body))
    return {"updated": 1, "dequeued": 1,
            "fields": {"status": STATUS_TO_CLEARML[task.status]}}


def ping(call: Call) -> dict[str, Any]:
    """``tasks.ping``: a sign of life of the task's process."""
    call.store.tasks.mark_alive(_task_id(call.body))
    return {}


def update(call: Call) -> dict[str, Any]:
    """``tasks.update``: name, comment, tags (and ClearML's system tags)."""
    body = call.body
    task_id = _task_id(body)
    call.store.tasks.update_task(task_id, TaskUpdate(
        name=body.text("name"), comment=body.text("comment"), tags=body.texts("tags")))
    if body.has("system_tags"):
        _save_extra(call.store, task_id, {"system_tags": body.texts("system_tags")})
    return {"updated": 1, "fields": {}}


def clone(call: Call) -> dict[str, Any]:
    """``tasks.clone``: a ``created`` copy with parameters, configurations, script and
    environment; ``new_task_*`` fields override the copy's."""
    body = call.body
    source = body.req_text("task")
    project_id = body.text("new_task_project")
    project = call.store.tasks.get_project(project_id).name if project_id else None
    task = call.store.tasks.clone_task(source, name=body.text("new_task_name"),
                                       parent_id=body.text("new_task_parent") or source,
                                       project=project)
    update = TaskUpdate(comment=body.text("new_task_comment"), tags=body.texts("new_task_tags"))
    if update.model_dump(exclude_none=True):
        call.store.tasks.update_task(task.id, update)
    hyper = body.obj("new_task_hyperparams")
    if hyper is not None:
        call.store.tasks.set_parameters(task.id, _parameters(hyper), replace=True)
    return {"id": task.id, "new_project": None}


def edit_hyper_params(call: Call) -> dict[str, Any]:
    """``tasks.edit_hyper_params``: set (``replace_hyperparams``: none/section/all)."""
    body = call.body
    task_id = _task_id(body)
    items = body.items("hyperparams") or []
    grouped: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("section"), str):
            raise bad_request("hyperparams must be a list of {section, name, value} objects")
        grouped.setdefault(item["section"], {})[text_of(item, "name", "hyperparams")] = item
    mode = body.text("replace_hyperparams", "none")
    params = _parameters(grouped)
    if mode == "all":
        call.store.tasks.set_parameters(task_id, params, replace=True)
    elif mode == "section":
        kept = [p for p in call.store.tasks.get_parameters(task_id) if p.section not in grouped]
        call.store.tasks.set_parameters(task_id, kept + params, replace=True)
    elif mode == "none":
        call.store.tasks.set_parameters(task_id, params)
    else:
        raise bad_request("replace_hyperparams must be none, section or all")
    return {"updated": 1}


def add_or_update_artifacts(call: Call) -> dict[str, Any]:
    """``tasks.add_or_update_artifacts``: the task's ClearML artifact entries (key, type,
    uri, hash, preview...), upserted by key and mode and read back in
    ``execution.artifacts``; their files are the file server's (:mod:`.files`)."""
    body = call.body
    task_id = _task_id(body)
    entries = body.items("artifacts")
    if entries is None:
        raise bad_request("missing required field 'artifacts'")
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) \
                or not isinstance(entry.get("type"), str):
            raise bad_request(f"artifacts[{number}] must be an object with string key and type")
    call.store.tasks.get_task(task_id)
    env = call.store.tasks.get_environment(task_id)
    kept = {(a["key"], a.get("mode", "output")): a
            for a in clearml_extra(env).get("artifacts") or []}
    for entry in entries:
        kept[(entry["key"], entry.get("mode", "output"))] = entry
    _save_extra(call.store, task_id, {"artifacts": list(kept.values())})
    return {"updated": len(entries)}


ACTIONS: dict[str, Handler] = {
    "tasks.create": create, "tasks.get_by_id": get_by_id, "tasks.get_all": get_all,
    "tasks.get_all_ex": get_all, "tasks.edit": edit, "tasks.update": update,
    "tasks.set_requirements": set_requirements, "tasks.started": started,
    "tasks.completed": completed, "tasks.close": completed, "tasks.failed": failed,
    "tasks.stopped": stopped, "tasks.stop": stop, "tasks.reset": reset, "tasks.ping": ping,
    "tasks.clone": clone, "tasks.edit_hyper_params": edit_hyper_params,
    "tasks.add_or_update_artifacts": add_or_update_artifacts,
    "tasks.enqueue": enqueue, "tasks.dequeue": dequeue,
}

#: ClearML's task endpoints not served yet (each answers a 400 naming itself).
NOT_YET = frozenset({
    "tasks.publish", "tasks.archive", "tasks.delete",
    "tasks.delete_artifacts",
    "tasks.delete_models", "tasks.move", "tasks.edit_configuration", "tasks.get_types",
    "tasks.validate", "tasks.delete_hyper_params", "tasks.get_hyper_params",
    "tasks.get_configurations", "tasks.delete_configuration", "tasks.update_batch",
    "tasks.enqueue_many", "tasks.stop_many", "tasks.reset_many", "tasks.delete_many",
})

__all__ = ["ACTIONS", "NOT_YET", "TYPES"]
