"""The login tokens of the ClearML API: JWTs signed with HMAC-SHA256.

The SDK decodes the token without checking it, for ``api_version`` and
``server_version``; the server checks signature and expiry on every call. The signing
key is derived from the server's session secret (``<home>/session-secret``), so every
server process sharing the data directory accepts the others' tokens, and replacing that
file invalidates them all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from tunehouse.compat.clearml.envelope import API_VERSION, SERVER_VERSION, ApiError

#: How long a token lives unless the login asks for less (ClearML's default is 30 days;
#: the SDK logs in again when a token nears its end).
TOKEN_TTL_S = 24 * 3600
_HEADER = {"alg": "HS256", "typ": "JWT"}


def signing_key(session_secret: bytes) -> bytes:
    """The token signing key derived from the server's session secret."""
    return hmac.new(session_secret, b"tunehouse clearml token", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, user: str, access_key: str, admin: bool = False,
          ttl_s: int = TOKEN_TTL_S, now: float | None = None) -> str:
    """A token for ``user`` logged in with API key ``access_key``, valid ``ttl_s``; its
    role is ``admin`` only when the key had admin rights (``admin``)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "identity": {"user": user, "user_name": user, "company": "tunehouse",
                     "company_name": "tunehouse", "role": "admin" if admin else "user"},
        "api_version": API_VERSION,
        "server_version": SERVER_VERSION,
        "feature_set": "basic",
        "env": "tunehouse",
        "key": access_key,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    head = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def verify(key: bytes, token: str, now: float | None = None) -> dict[str, Any]:
    """The claims of ``token``; ApiError 401 when it is malformed, forged or expired."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ApiError(401, "invalid token: not a JWT", subcode=20)
    head, body, signature = parts
    expected = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    try:
        presented = _unb64(signature)
        claims = json.loads(_unb64(body))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(401, "invalid token: bad encoding", subcode=20) from None
    if not hmac.compare_digest(expected, presented):
        raise ApiError(401, "invalid token: bad signature", subcode=20)
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise ApiError(401, "invalid token: no expiry", subcode=20)
    if claims["exp"] <= (time.time() if now is None else now):
        raise ApiError(401, "token expired: log in again", subcode=21)
    identity = claims.get("identity")
    if not isinstance(identity, dict) or not isinstance(identity.get("user"), str):
        raise ApiError(401, "invalid token: no identity", subcode=20)
    return claims
