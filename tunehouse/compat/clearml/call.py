"""What a handler of a ClearML endpoint gets, and what the server provides."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from tunehouse.compat.clearml.body import Body
from tunehouse.store.base import Store
from tunehouse.store.interfaces.clearml_models import ClearmlModelStore
from tunehouse.store.records import User


class Backend(Protocol):
    """What the server hands the ClearML API: key checks and the guarded store.

    Attributes:
        token_key: The key signing login tokens (:func:`.tokens.signing_key`).
        max_body_bytes: The largest body a call may send (the server's request limit).
        large_body_bytes: A body larger than this (or of unknown length) is read only
            within :meth:`large_body`.
        lease_s: The lease of a task ``clearml-agent`` pulls (renewed by its status
            reports).
    """

    token_key: bytes
    max_body_bytes: int
    large_body_bytes: int
    lease_s: float

    def large_body(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the server's slots for large bodies (read, parsed, stored)."""

    def login(self, request: Request) -> tuple[User, str]:
        """The user and access key of the API key in the request's HTTP Basic header,
        checked and throttled like any API key (blocking: the database)."""

    def store_for(self, request: Request, user: str, access_key: str,
                  admin: bool) -> tuple[Store, User]:
        """The store acting as ``user``, every call checked against the user's project
        roles (with admin rights only if ``admin``: what the key had at login) and
        audited, as for the JSON API, and the user as the key's check read it;
        AuthenticationFailed when the user is disabled or the key revoked since the token
        was issued (blocking)."""

    def runner_store(self, request: Request, runner: User, task_id: str) -> Store | None:
        """The store acting as the owner of task ``task_id`` when ``runner`` (the caller,
        as :meth:`store_for` read it) is an agent account running it (it claimed the task,
        which is still in progress), fenced to that attempt; None otherwise. ``clearml-agent`` and the task it runs call with the
        agent's key, so this is how they write to the owner's task (blocking)."""

    def model_records(self, user: str) -> ClearmlModelStore:
        """ClearML's model records, written as ``user``; unchecked: the handlers check
        each record against its task through the guarded store (:mod:`.models`)."""


@dataclass
class Call:
    """One authenticated call: the acting user, the store acting for it, the body, the
    API key and admin rights its token was issued for, ClearML's model records, the
    worker the client names (``X-ClearML-Worker``) and the lease of a task it pulls."""

    user: str
    store: Store
    body: Body
    key: str = ""
    admin: bool = False
    records: ClearmlModelStore | None = None
    worker: str = ""
    lease_s: float = 120.0
    #: The caller is an agent account (not an admin): its calls about a task it runs act
    #: as the task's owner (:meth:`Backend.runner_store`).
    runs_tasks: bool = False
    #: :meth:`Backend.runner_store` for this call's request and user.
    runner_store: Callable[[str], Store | None] | None = None

    def for_task(self, task_id: str) -> Store:
        """The store of a call about task ``task_id``: the owner's when the caller is an
        agent account running that task (:meth:`Backend.runner_store`), else its own."""
        if self.runs_tasks and self.runner_store is not None:
            found = self.runner_store(task_id)
            if found is not None:
                return found
        return self.store


Handler = Callable[[Call], dict[str, Any]]
