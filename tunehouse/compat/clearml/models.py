"""ClearML's ``models`` service, and ``tasks.add_or_update_model``.

A ClearML model is registered by URI before (or without) its weights and is found by id
alone, so its record is one of ClearML's model records (the ``clearml_models`` table,
:class:`~tunehouse.store.interfaces.clearml_models.ClearmlModelStore`), and
``models.get_by_id``/``get_all`` answer from it. Once a record has a task and its URI
names a file the ClearML file server holds (``<files host>/<path>``), a **tunehouse
model version** of that task is made from the file's blob (its sha256 and size known
then), once per content; the record keeps its id (``tunehouse_model``).

Permissions: a record with a task is read by who may read the task; one without, by its
creator (and admins). Creating a record for a task or editing one needs the right to
change its task (``editor``); a record without a task is changed by its creator only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunehouse.compat.clearml.body import Body
from tunehouse.compat.clearml.call import Call, Handler
from tunehouse.compat.clearml.envelope import ApiError, bad_request
from tunehouse.compat.clearml.paths import artifact_name, file_path
from tunehouse.compat.clearml.task_model import clearml_extra, with_extra
from tunehouse.errors import NotFound, PermissionDenied
from tunehouse.store.interfaces.clearml_models import ClearmlModelStore
from tunehouse.store.records import ModelCreate, ModelUpdate, TaskUpdate

#: Fields ``models.create``/``edit`` keep as sent, each with its JSON type.
_TEXTS = ("uri", "comment", "framework", "project", "parent")
_OBJECTS = ("design", "labels", "metadata")
_LISTS = ("tags", "system_tags")
#: Fields ``models.get_all`` reads; others answer a 400 naming them.
_KNOWN = frozenset({"id", "name", "project", "task", "tags", "system_tags", "uri",
                    "framework", "ready", "only_fields", "order_by", "page", "page_size",
                    "include_subprojects", "search_hidden", "_allow_extra_fields_",
                    "allow_public", "user", "method"})
_PAGE_SIZE, _MAX_PAGE_SIZE = 500, 5000


def _records(call: Call) -> ClearmlModelStore:
    if call.records is None:  # the server always hands them in
        raise ApiError(500, "ClearML's model records are not available")
    return call.records


def _may_edit_task(call: Call, task_id: str) -> None:
    """403/404 unless the caller may change task ``task_id`` (an empty update: the
    guarded store's check, nothing written)."""
    call.store.tasks.update_task(task_id, TaskUpdate())


def _readable(call: Call, record: dict[str, Any]) -> bool:
    if call.admin or record["user"] == call.user:
        return True
    if not record.get("task"):
        return False
    try:
        call.store.tasks.get_task(record["task"])
    except (NotFound, PermissionDenied):
        return False
    return True


def _read(call: Call, model_id: str) -> dict[str, Any]:
    """The record ``model_id`` if the caller may read it (404 otherwise)."""
    record = _records(call).get_record(model_id)
    if not _readable(call, record):
        raise NotFound(f"model {model_id!r} not found")
    return record


def _fields(body: Body, where: str) -> dict[str, Any]:
    """The model fields ``body`` sets, each type checked (400 naming the first wrong)."""
    found: dict[str, Any] = {}
    for name in _TEXTS:
        if body.has(name):
            found[name] = body.text(name)
    for name in _OBJECTS:
        if body.has(name):
            found[name] = body.obj(name)
    for name in _LISTS:
        if body.has(name):
            found[name] = body.texts(name)
    if body.has("ready"):
        found["ready"] = body.flag("ready")
    if body.has("iteration"):
        found["last_iteration"] = body.integer("iteration")
    if body.has("name") and not (body.text("name") or "").strip():
        raise bad_request(f"{where}: the model's name must not be empty")
    return found


def create(call: Call) -> dict[str, Any]:
    """``models.create``: a new record (uri and name required; task optional)."""
    body = call.body
    body.req_text("uri")
    name = body.req_text("name").strip()
    if not name:
        raise bad_request("models.create: the model's name must not be empty")
    data = _fields(body, "models.create")
    task_id = body.text("task")
    if task_id:
        _may_edit_task(call, task_id)
        data.setdefault("project", call.store.tasks.get_task(task_id).project_id)
    record = _records(call).create_record(task_id or None, name, data)
    record = _register(call, record)
    return {"id": record["id"], "created": True}


def edit(call: Call) -> dict[str, Any]:
    """``models.edit`` (also ``models.update``): change uri, name, tags, design, labels,
    framework, task... of a record; a ready (published) one only with ``force``."""
    body = call.body
    record = _read(call, body.req_text("model"))
    _may_change(call, record)
    changes = _fields(body, "models.edit")
    if record.get("ready") and not body.flag("force") and "uri" in changes \
            and changes["uri"] != record.get("uri"):
        raise ApiError(409, f"model {record['id']} is published: its uri cannot change "
                            "(send force=true)")
    task_id = body.text("task") if body.has("task") else record.get("task")
    if task_id and task_id != record.get("task"):
        _may_edit_task(call, task_id)
        changes.setdefault("project", call.store.tasks.get_task(task_id).project_id)
    name = (body.text("name") or record["name"]).strip()
    data = {**record, **changes}
    updated = _records(call).update_record(record["id"], task_id or None, name, data)
    _register(call, updated)
    fields = {key: value for key, value in changes.items() if key != "last_iteration"}
    return {"updated": 1, "fields": fields}


def _may_change(call: Call, record: dict[str, Any]) -> None:
    """403 unless the user may change the model ``record``: its creator, an admin, or an
    editor of its task."""
    if not call.admin and record["user"] != call.user:
        if not record.get("task"):
            raise PermissionDenied(f"model {record['id']} is {record['user']}'s")
        _may_edit_task(call, record["task"])


def set_ready(call: Call) -> dict[str, Any]:
    """``models.set_ready``: the model is published (its tunehouse version too)."""
    body = call.body
    record = _read(call, body.req_text("model"))
    _may_change(call, record)
    body.flag("publish_task")
    data = {**record, "ready": True}
    _records(call).update_record(record["id"], record.get("task"), record["name"], data)
    version = record.get("tunehouse_model")
    if version and not call.store.models.get_model(version).published:
        call.store.models.update_model(version, ModelUpdate(published=True))
    return {"updated": 1, "published_task": None}


def get_by_id(call: Call) -> dict[str, Any]:
    """``models.get_by_id``: the whole model."""
    return {"model": to_clearml(_read(call, call.body.req_text("model")))}


def get_all(call: Call) -> dict[str, Any]:
    """``models.get_all``: ids, name (regular expression), project, task, uri, framework,
    ready, tags (``-`` excludes), paging, ``only_fields``, ``order_by`` on a field."""
    body = call.body
    unknown = sorted(set(body.data) - _KNOWN)
    if unknown:
        raise bad_request(f"models.get_all: unknown field(s) {', '.join(unknown)}")
    page = body.integer("page", 0) or 0
    size = body.integer("page_size", _PAGE_SIZE) or _PAGE_SIZE
    if page < 0 or not 0 < size <= _MAX_PAGE_SIZE:
        raise bad_request(f"page must be >= 0 and page_size in 1..{_MAX_PAGE_SIZE}")
    checks = _checks(body)
    records = _records(call).list_records(ids=body.texts("id"), task_ids=body.texts("task"))
    found = [r for r in records if all(check(r) for check in checks) and _readable(call, r)]
    for key in reversed(body.texts("order_by") or []):
        field, descending = key.lstrip("-"), key.startswith("-")
        found.sort(key=_sort_key(field), reverse=descending)
    fields = body.texts("only_fields")
    models = [to_clearml(r, fields) for r in found[page * size:(page + 1) * size]]
    return {"models": models}


def _checks(body: Body) -> list[Callable[[dict[str, Any]], bool]]:
    checks: list[Callable[[dict[str, Any]], bool]] = []
    pattern = body.pattern("name", "models.get_all")
    if pattern is not None:
        checks.append(lambda r: pattern.search(r["name"]) is not None)
    for field in ("project", "uri", "framework", "user"):
        wanted = body.texts(field)
        if wanted is not None:
            checks.append(_in_check(field, set(wanted)))
    if body.has("ready"):
        ready = body.flag("ready")
        checks.append(lambda r: bool(r.get("ready")) is ready)
    for field in ("tags", "system_tags"):
        tags = body.texts(field) or []
        need = {t for t in tags if not t.startswith("-")}
        avoid = {t[1:] for t in tags if t.startswith("-")}
        if need or avoid:
            checks.append(_tag_check(field, need, avoid))
    return checks


def _sort_key(field: str) -> Callable[[dict[str, Any]], str]:
    return lambda record: str(record.get(field) or "")


def _in_check(field: str, wanted: set[str]) -> Callable[[dict[str, Any]], bool]:
    return lambda record: record.get(field) in wanted


def _tag_check(field: str, need: set[str], avoid: set[str]) -> Callable[[dict[str, Any]], bool]:
    def check(record: dict[str, Any]) -> bool:
        tags = set(record.get(field) or [])
        return need <= tags and not avoid & tags
    return check


def to_clearml(record: dict[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
    """A record as ClearML's model object (only ``fields`` and ``id`` when given)."""
    out = {
        "id": record["id"], "name": record["name"], "user": record["user"],
        "company": "tunehouse", "created": record["created"],
        "last_update": record["last_update"], "last_change": record["last_update"],
        "task": record.get("task"), "project": record.get("project"),
        "parent": record.get("parent"), "uri": record.get("uri") or "",
        "framework": record.get("framework") or "", "comment": record.get("comment") or "",
        "design": record.get("design") or {}, "labels": record.get("labels") or {},
        "tags": record.get("tags") or [], "system_tags": record.get("system_tags") or [],
        "ready": bool(record.get("ready")), "public": False,
        "last_iteration": record.get("last_iteration") or 0,
        "metadata": record.get("metadata") or {},
    }
    if fields is None:
        return out
    wanted = {field.split(".")[0] for field in fields} | {"id"}
    return {key: value for key, value in out.items() if key in wanted}


def _register(call: Call, record: dict[str, Any]) -> dict[str, Any]:
    """Make the tunehouse model version of ``record`` when it has a task and its uri
    names a file of the file server whose content it has no version of yet."""
    path = file_path(record.get("uri") or "")
    if not record.get("task") or path is None:
        return record
    try:
        file_task, name = artifact_name(path)
    except ApiError:
        return record  # not a file of a task: nothing to register
    found = [a for a in call.store.artifacts.list_artifacts(file_task) if a.name == name]
    if not found or found[0].sha256 == record.get("tunehouse_sha256"):
        return record
    blob = found[0]
    version = call.store.models.create_model(ModelCreate(
        name=record["name"], framework=(record.get("framework") or "")[:64],
        task_id=record["task"], sha256=blob.sha256, size=blob.size,
        tags=record.get("tags") or [], comment=record.get("comment") or "",
        metadata={"clearml_model_id": record["id"], "uri": record.get("uri")}))
    data = {**record, "tunehouse_model": version.id, "tunehouse_sha256": blob.sha256}
    return _records(call).update_record(record["id"], record["task"], record["name"], data)


def add_or_update_model(call: Call) -> dict[str, Any]:
    """``tasks.add_or_update_model``: the task's input or output model entry ``name``
    (``{name, model}``, upserted by name), read back in the task's ``models``."""
    body = call.body
    task_id = body.req_text("task")
    name = body.req_text("name")
    kind = body.req_text("type")
    if kind not in ("input", "output"):
        raise bad_request(f"tasks.add_or_update_model: type must be input or output, "
                          f"got {kind!r}")
    model_id = body.req_text("model")
    body.integer("iteration")
    _read(call, model_id)
    env = call.store.tasks.get_environment(task_id)
    models = {"input": [], "output": [], **(clearml_extra(env).get("models") or {})}
    entries = [e for e in models[kind] if e.get("name") != name]
    models[kind] = [*entries, {"name": name, "model": model_id}]
    call.store.tasks.set_environment(task_id, with_extra(env, models=models))
    return {"updated": 1}


ACTIONS: dict[str, Handler] = {
    "models.create": create, "models.get_by_id": get_by_id, "models.get_all": get_all,
    "models.edit": edit, "models.update": edit, "models.set_ready": set_ready,
    "tasks.add_or_update_model": add_or_update_model,
}

#: ClearML's model endpoints not served yet (each answers a 400 naming itself).
NOT_YET = frozenset({
    "models.update_for_task", "models.delete", "models.add_or_update_metadata",
    "models.delete_metadata", "models.archive_many", "models.unarchive_many",
    "models.publish_many", "models.delete_many", "models.move", "models.get_frameworks",
    "models.set_ready_many", "models.get_all_ex",
})
