"""Large event batches and parameter lists, parsed incrementally so that a request's
memory stays near the size of its body.

A 10,000-event batch (what the SDK sends) or a task's few parameters are parsed whole by
pydantic, the fastest path. A body over
:data:`~tunehouse.server.bodies.LARGE_BODY_BYTES` is walked with ijson's C tokenizer
instead: events (parameters) are gathered into chunks of :data:`CHUNK_EVENTS`
(:data:`CHUNK_PARAMETERS`), each chunk validated by pydantic (error locations numbered
within the whole body) and written before the next is read
(:meth:`~tunehouse.store.interfaces.EventStore.add_event_chunks`,
:meth:`~tunehouse.store.interfaces.TaskStore.set_parameter_chunks`), all in one
transaction. Parsing a 64 MiB batch whole took the server from 80 MiB to 1.1 GiB of RSS,
a 60 MiB list of 780,000 parameters to 1.6 GiB; streamed they stay within about 150 MiB.
Other bodies are parsed whole: a few large strings (a configuration, a script) cost about
three times their size while they are handled, and the server's large-body slots
(:mod:`tunehouse.server.bodies`) bound how many are handled at once.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import ijson
from pydantic import TypeAdapter, ValidationError

from tunehouse.errors import InvalidInput
from tunehouse.server.errors import validation_error
from tunehouse.store.records import EventBatch, Parameter

CHUNK_EVENTS = 20_000
CHUNK_PARAMETERS = 5_000
#: A JSON array of parameters, the body of ``PUT /tasks/{id}/parameters``.
PARAMETER_LIST = TypeAdapter(list[Parameter])
_FIELDS = ("batch_id", "task_id", "scalars", "logs")


def batch_ids(body: bytes) -> tuple[str, str]:
    """``(batch_id, task_id)`` of a batch, validated; read from the start of the body when
    they come first, as every tunehouse client sends them."""
    found: dict[str, Any] = {}
    try:
        for name in ("batch_id", "task_id"):
            found[name] = next(ijson.items(io.BytesIO(body), name), None)
    except ijson.JSONError as exc:
        raise _invalid_json(exc) from None
    try:
        head = EventBatch.model_validate({k: v for k, v in found.items() if v is not None})
    except ValidationError as exc:
        raise validation_error(exc.errors(include_input=False), prefix=("body",)) from None
    return head.batch_id, head.task_id


def event_chunks(body: bytes, batch_id: str, task_id: str) -> Iterator[EventBatch]:
    """The batch's scalars and console lines as validated chunks of at most
    :data:`CHUNK_EVENTS` events each (at least one chunk, maybe empty)."""
    scalars: list[list[Any]] = []
    logs: list[list[Any]] = []
    offsets = {"scalars": 0, "logs": 0}
    current: list[Any] = []
    yielded = False
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(body), use_float=True):
            if prefix in ("scalars.item.item", "logs.item.item"):
                if event in ("start_array", "start_map"):
                    current.append({})  # a nested array or object: pydantic names the field
                elif event not in ("end_array", "end_map"):
                    current.append(value)
            elif prefix in ("scalars.item", "logs.item"):
                if event == "start_array":
                    current = []
                elif event == "end_array":
                    (scalars if prefix[0] == "s" else logs).append(current)
                    if len(scalars) + len(logs) >= CHUNK_EVENTS:
                        yield _chunk(batch_id, task_id, scalars, logs, offsets)
                        yielded = True
                        scalars, logs = [], []
                else:  # a scalar or a map where an event array belongs
                    kind = prefix.split(".")[0]
                    index = offsets[kind] + len(scalars if kind == "scalars" else logs)
                    raise InvalidInput(f"invalid request: body.{kind}.{index}: each event is "
                                       "an array", detail=[{"loc": ["body", kind, index],
                                                            "msg": "Input should be an array",
                                                            "type": "list_type"}])
            elif prefix in ("scalars", "logs") and event not in ("start_array", "end_array"):
                raise InvalidInput(f"invalid request: body.{prefix}: Input should be a valid list",
                                   detail=[{"loc": ["body", prefix], "type": "list_type",
                                            "msg": "Input should be a valid list"}])
            elif prefix == "" and event == "map_key" and value not in _FIELDS:
                raise InvalidInput(f"invalid request: body.{value}: Extra inputs are not permitted",
                                   detail=[{"loc": ["body", value], "type": "extra_forbidden",
                                            "msg": "Extra inputs are not permitted"}])
            elif prefix == "" and event not in ("start_map", "end_map", "map_key"):
                raise InvalidInput("invalid request: body: the batch must be a JSON object")
    except ijson.JSONError as exc:
        raise _invalid_json(exc) from None
    if scalars or logs or not yielded:
        yield _chunk(batch_id, task_id, scalars, logs, offsets)


def _chunk(batch_id: str, task_id: str, scalars: list[list[Any]], logs: list[list[Any]],
           offsets: dict[str, int]) -> EventBatch:
    try:
        chunk = EventBatch.model_validate({"batch_id": batch_id, "task_id": task_id,
                                           "scalars": scalars, "logs": logs})
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_input=False):
            loc = list(error.get("loc", ()))
            if len(loc) >= 2 and loc[0] in offsets and isinstance(loc[1], int):
                loc[1] += offsets[str(loc[0])]
            errors.append({**error, "loc": tuple(loc)})
        raise validation_error(errors, prefix=("body",)) from None
    offsets["scalars"] += len(scalars)
    offsets["logs"] += len(logs)
    return chunk


def parameter_chunks(body: bytes) -> Iterator[list[Parameter]]:
    """The parameters of a JSON array as validated chunks of at most
    :data:`CHUNK_PARAMETERS` each (none for an empty array). ``body`` must start with
    ``[`` (after white space): anything else is for pydantic's parser to name."""
    chunk: list[Any] = []
    offset = 0
    try:
        for item in ijson.items(io.BytesIO(body), "item", use_float=True):
            chunk.append(item)
            if len(chunk) >= CHUNK_PARAMETERS:
                yield _parameters(chunk, offset)
                offset += len(chunk)
                chunk = []
    except ijson.JSONError as exc:
        raise _invalid_json(exc) from None
    if chunk:
        yield _parameters(chunk, offset)


def _parameters(items: list[Any], offset: int) -> list[Parameter]:
    try:
        return PARAMETER_LIST.validate_python(items)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_input=False):
            loc = list(error.get("loc", ()))
            if loc and isinstance(loc[0], int):
                loc[0] += offset
            errors.append({**error, "loc": tuple(loc)})
        raise validation_error(errors, prefix=("body",)) from None


def _invalid_json(exc: Exception) -> InvalidInput:
    problem = f"Invalid JSON: {exc}"
    return InvalidInput(f"invalid request: body: {problem}",
                        detail=[{"loc": ["body"], "msg": problem, "type": "json_invalid"}])
