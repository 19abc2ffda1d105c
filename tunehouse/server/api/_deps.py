"""Dependencies shared by the API modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, overload

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, TypeAdapter, ValidationError

from tunehouse.contract import route
from tunehouse.errors import InvalidInput
from tunehouse.server.auth import Principal, admin_principal, principal
from tunehouse.server.errors import validation_error

#: The authenticated principal of a request (401 without valid credentials).
Acting = Annotated[Principal, Depends(principal)]
#: The authenticated principal, which must be an admin (403 otherwise).
AdminOnly = Annotated[Principal, Depends(admin_principal)]

TaskId = Annotated[str, Path(min_length=1, max_length=64)]
SHA256_PATTERN = r"^[0-9a-f]{64}$"
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: Models whose JSON schema the OpenAPI document must carry although no route declares
#: them as a FastAPI body parameter (bodies parsed by hand for speed or streaming).
EXTRA_SCHEMAS: list[type[BaseModel]] = []


def json_body_doc(model: type[BaseModel], many: bool = False) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body of ``model`` (an array of them
    with ``many``) parsed by hand."""
    EXTRA_SCHEMAS.append(model)
    ref: dict[str, Any] = {"$ref": f"#/components/schemas/{model.__name__}"}
    schema = {"type": "array", "items": ref} if many else ref
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}


@overload
def parse_json_body(model: type[M], body: bytes) -> M: ...
@overload
def parse_json_body(model: TypeAdapter[T], body: bytes) -> T: ...
def parse_json_body(model: type[BaseModel] | TypeAdapter[Any], body: bytes) -> Any:
    """``model`` (a model class or a ``TypeAdapter``) validated straight from JSON bytes
    (pydantic's parser); 422 naming the field, or the JSON error, when the body is not
    acceptable."""
    if not body:
        raise InvalidInput("invalid request: body: a JSON body is required",
                           detail=[{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_json(body)
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc.errors(include_input=False), prefix=("body",)) from None


def operation(router: APIRouter, name: str, **options: Any) -> Callable[[F], F]:
    """Register the decorated function as the route of operation ``name`` (method and
    path from :data:`tunehouse.contract.ROUTES`); ``options`` go to FastAPI. The function
    must be named like the operation's method (``tasks.get_task`` -> ``get_task``)."""
    spec = route(name)
    register = router.api_route(spec.path, methods=[spec.method], name=name, **options)

    def decorate(function: F) -> F:
        expected = name.split(".", 1)[1]
        if function.__name__ != expected:
            raise TypeError(f"the route of {name} must be a function named {expected}, "
                            f"not {function.__name__}")
        return register(function)

    return decorate
