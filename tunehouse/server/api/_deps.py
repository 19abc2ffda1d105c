"""Dependencies shared by the API modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ValidationError

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
F = TypeVar("F", bound=Callable[..., Any])

#: Models whose JSON schema the OpenAPI document must carry although no route declares
#: them as a FastAPI body parameter (bodies parsed by hand for speed or streaming).
EXTRA_SCHEMAS: list[type[BaseModel]] = []


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body of ``model`` parsed by hand."""
    EXTRA_SCHEMAS.append(model)
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def parse_json_body(model: type[M], body: bytes) -> M:
    """``model`` validated straight from JSON bytes (pydantic's parser); 422 naming the
    field, or the JSON error, when the body is not acceptable."""
    if not body:
        raise InvalidInput("invalid request: body: a JSON body is required",
                           detail=[{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    try:
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
