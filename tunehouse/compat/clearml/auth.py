"""ClearML's ``auth`` service: ``auth.login`` trades an API key for a token."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from tunehouse.compat.clearml import tokens
from tunehouse.compat.clearml.body import Body
from tunehouse.compat.clearml.call import Backend


def login(backend: Backend, request: Request, body: Body) -> dict[str, Any]:
    """``auth.login``: HTTP Basic with a tunehouse API key (access key, secret key) → a
    token for the key's user, valid ``expiration_sec`` (at most :data:`.tokens.TOKEN_TTL_S`)."""
    ttl = body.integer("expiration_sec", tokens.TOKEN_TTL_S) or tokens.TOKEN_TTL_S
    ttl = max(60, min(ttl, tokens.TOKEN_TTL_S))
    user, access_key = backend.login(request)
    return {"token": tokens.issue(backend.token_key, user.name, access_key, admin=user.admin,
                                  ttl_s=ttl)}
