"""The server's side of the ClearML API (:mod:`tunehouse.compat.clearml`): API keys
checked as :func:`tunehouse.server.auth.authenticate` checks them, and the guarded store
of the key's user, as :func:`tunehouse.server.auth.principal` builds it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request

from tunehouse.compat.clearml import API_MOUNT, build_routes, tokens
from tunehouse.errors import AuthenticationFailed, NotFound
from tunehouse.server.auth import authenticate, client_address, parse_basic
from tunehouse.server.bodies import LARGE_BODY_BYTES, LargeBodySlots
from tunehouse.server.guarded import acting_for, guarded_store
from tunehouse.server.permissions import Permissions
from tunehouse.store.accounts import AccountStore
from tunehouse.store.base import Store
from tunehouse.store.interfaces.clearml_models import ClearmlModelStore
from tunehouse.store.records import TaskStatus, User
from tunehouse.store.sql import SqlStore


class ClearmlBackend:
    """:class:`tunehouse.compat.clearml.Backend` on the app's store and accounts."""

    def __init__(self, app: FastAPI, session_secret: bytes, max_body_bytes: int,
                 lease_s: float) -> None:
        self._app = app
        self.token_key = tokens.signing_key(session_secret)
        self.max_body_bytes = max_body_bytes
        self.large_body_bytes = LARGE_BODY_BYTES
        self.lease_s = lease_s

    def large_body(self) -> AbstractAsyncContextManager[None]:
        slots: LargeBodySlots = self._app.state.large_bodies
        return slots.slot()

    def login(self, request: Request) -> tuple[User, str]:
        access_key, _ = parse_basic(request.headers.get("authorization", ""))
        return authenticate(request), access_key  # checked and throttled

    def store_for(self, request: Request, user: str, access_key: str,
                  admin: bool) -> tuple[Store, User]:
        accounts: AccountStore = self._app.state.accounts
        try:
            found = accounts.keys.check_key(access_key)  # one read: revoked, disabled, over
        except AuthenticationFailed as exc:
            raise AuthenticationFailed(f"the API key of this token no longer works "
                                       f"({exc.message}); log in again") from None
        if found.name != user:
            raise AuthenticationFailed("the token does not match its API key; log in again")
        checked = found if admin or not found.admin else found.model_copy(update={"admin": False})
        store = self._app.state.store.with_user(user).with_context(None, client_address(request))
        permissions: Permissions = self._app.state.permissions
        return guarded_store(store, checked, permissions), checked

    def runner_store(self, request: Request, runner: User, task_id: str) -> Store | None:
        store: SqlStore = self._app.state.store
        accounts: AccountStore = self._app.state.accounts
        try:
            task = store.tasks.get_task(task_id)
        except NotFound:
            return None
        if not runner.agent or task.status is not TaskStatus.in_progress \
                or task.runner != runner.name or task.user == runner.name:
            return None
        owner = accounts.users.get_user(task.user)
        if owner.disabled:
            return None
        acting = store.with_user(owner.name).with_context(runner.name,
                                                          client_address(request))
        permissions: Permissions = self._app.state.permissions
        return guarded_store(acting.with_fence(task.id, task.attempt),
                             acting_for(runner, owner), permissions)

    def model_records(self, user: str) -> ClearmlModelStore:
        store: SqlStore = self._app.state.store
        return store.with_user(user).clearml_models


#: The paths :class:`~tunehouse.server.bodies.BodyLimitMiddleware` leaves alone: the
#: ClearML API checks its token, limits bodies and takes large-body slots itself (the
#: middleware knows neither Bearer tokens nor newline-delimited JSON, and answers
#: outside ClearML's envelope).
CLEARML_PREFIX = API_MOUNT


def mount_clearml(app: FastAPI, session_secret: bytes, max_body_bytes: int,
                  lease_s: float) -> None:
    """Serve the ClearML API under ``/clearml`` and its file server under ``/clearml-files``
    (``lease_s``: the lease of a task clearml-agent pulls)."""
    for route in build_routes(ClearmlBackend(app, session_secret, max_body_bytes, lease_s)):
        app.router.routes.append(route)
