"""Editing the parameters of a stored task (a clone, before it is queued): the one place
that resolves ``"Section/name"`` or plain ``name`` keys to parameters, used by
``Task.clone(parameter_overrides=...)`` and ``tunehouse tasks clone --set``.

A key with a section edits that parameter, or adds it when the task does not have it. A
plain name edits the one stored parameter of that name in whatever section; no match, or a
match in several sections, is an ``InvalidInput`` naming the candidates. An edited
parameter keeps its stored type, and the new value must be readable as that type (the
script casts it back when it runs under an agent).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from tunehouse.errors import InvalidInput
from tunehouse.sdk import parameters as params
from tunehouse.store.base import Store
from tunehouse.store.records import Parameter, TaskUpdate
from tunehouse.store.records import Task as TaskRecord


def resolve_edits(stored: list[Parameter], edits: Mapping[str, Any]) -> list[Parameter]:
    """The parameters to write for ``edits`` (``{"Section/name" or "name": value}``) on a
    task that has ``stored``.

    A string value is taken as the parameter's text; any other value is encoded as
    ``Task.connect`` does (JSON). A new parameter gets the type of the value (``str`` for
    text).

    Raises:
        InvalidInput: a plain name matching no parameter or several; a key of the form
            ``"Section/"``; a value that cannot be read as the parameter's stored type.
    """
    by_key = {(p.section, p.name): p for p in stored}
    result: dict[tuple[str, str], Parameter] = {}
    for key, value in edits.items():
        section, name = _locate(key, stored)
        current = by_key.get((section, name))
        result[(section, name)] = _edited(section, name, value, current)
    return list(result.values())


def _locate(key: str, stored: list[Parameter]) -> tuple[str, str]:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"invalid parameter name {key!r}")
    if "/" in key:
        return params.split_full_name(key)
    matches = [p for p in stored if p.name == key]
    if len(matches) == 1:
        return matches[0].section, key
    if matches:
        names = ", ".join(params.full_name(p.section, p.name) for p in matches)
        raise InvalidInput(f"parameter name {key!r} is ambiguous: {names}; give the section "
                           f"('Section/{key}')", detail={"parameter": key, "candidates": names})
    known = sorted({p.name for p in stored} | {params.full_name(p.section, p.name)
                                               for p in stored})
    close = difflib.get_close_matches(key, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InvalidInput(f"unknown parameter {key!r}{hint} (give its section, 'Section/{key}', "
                       "to add it)", detail={"parameter": key})


def _edited(section: str, name: str, value: Any, current: Parameter | None) -> Parameter:
    if current is None:
        if isinstance(value, str):
            return Parameter(section=section, name=name, value=value, type="str")
        return params.to_parameter(section, name, value)
    text = value if isinstance(value, str) else params.encode(value)[0]
    kind = current.type
    if kind == "NoneType" and not isinstance(value, str):
        kind = params.type_name(value)
    edited = Parameter(section=section, name=name, value=text, type=kind,
                       description=current.description)
    params.decode(edited)  # InvalidInput naming the parameter when it cannot be read
    return edited


def clone_with_edits(store: Store, source_id: str, *, name: str | None = None,
                     parent_id: str | None = None, project: str | None = None,
                     comment: str | None = None,
                     edits: Mapping[str, Any] | None = None) -> TaskRecord:
    """Clone task ``source_id`` (``store.tasks.clone_task``: parameters, configurations,
    script, environment and tags), set ``comment`` when given and apply ``edits`` to the
    clone's parameters (see :func:`resolve_edits`). The edits are checked against the
    source's parameters first, so a bad edit leaves no clone behind."""
    changes = resolve_edits(store.tasks.get_parameters(source_id), edits) if edits else []
    clone = store.tasks.clone_task(source_id, name=name, parent_id=parent_id, project=project)
    if changes:
        store.tasks.set_parameters(clone.id, changes)
    if comment is not None:
        clone = store.tasks.update_task(clone.id, TaskUpdate(comment=comment))
    return clone
