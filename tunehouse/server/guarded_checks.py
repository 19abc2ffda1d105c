"""The checks a guarded store view makes before each call (:mod:`tunehouse.server.guarded`).

One :class:`Guard` per view: the acting user, the :class:`~tunehouse.server.permissions.
Permissions` of the server's database, and a memo of the projects of the tasks it has
looked at (a task never changes project, and a view lives for one request).
"""

from __future__ import annotations

import re

from tunehouse.errors import InvalidInput, PermissionDenied
from tunehouse.server.permissions import Permissions, ProjectRef, Role
from tunehouse.store.records import Model, User
from tunehouse.store.sql.database import project_name

#: The private queue of a search run with ``local=N`` (``tunehouse.hpo.execution``), and
#: the name of the agent its controller runs: both carry the controller's id prefix.
SEARCH_QUEUE = re.compile(r"^hpo-([0-9a-f]{12})$")
SEARCH_WORKER = re.compile(r"^hpo-local-([0-9a-f]{12})-")
_MEMO_MAX = 1024


class Guard:
    """Permission checks for one acting user (see the module docstring).

    Args:
        user: The acting user (the authenticated one, or whom it acts for).
        permissions: The roles on the server's database.
    """

    def __init__(self, user: User, permissions: Permissions) -> None:
        self.user = user
        self.permissions = permissions
        self._task_projects: dict[str, ProjectRef] = {}

    def deny(self, what: str, why: str) -> PermissionDenied:
        """The 403 for ``what`` this user may not do, and ``why``."""
        return PermissionDenied(f"{self.user.name} may not {what}: {why}")

    # ------------------------------------------------------------ projects and tasks
    def task_project(self, task_id: str) -> ProjectRef:
        """The project of task ``task_id`` (NotFound when there is no such task)."""
        ref = self._task_projects.get(task_id)
        if ref is None:
            ref = self.permissions.task_project(task_id)
            if len(self._task_projects) < _MEMO_MAX:
                self._task_projects[task_id] = ref
        return ref

    def task(self, task_id: str, needed: Role, what: str) -> None:
        """403 unless the user has ``needed`` on the project of task ``task_id``; ``what``
        is the verb (``delete`` -> "alice may not delete task 3fa9... in project ...")."""
        if self.user.admin:
            return
        ref = self.task_project(task_id)
        self.permissions.check(self.user, ref, needed, f"{what} task {task_id}")

    def project(self, name_or_id: str, needed: Role, what: str) -> None:
        """403 unless the user has ``needed`` on the project ``name_or_id`` (NotFound when
        there is none)."""
        self.permissions.require(self.user, name_or_id, needed, what)

    def project_or_new(self, name: str, needed: Role, what: str) -> None:
        """Creating a project is open to every user (who then owns it as its creator): 403
        only when the project ``name`` exists and the user has less than ``needed`` on it."""
        if self.user.admin:
            return
        try:
            name = project_name(name)
        except InvalidInput:
            return  # the store refuses the name itself, with its reason
        ref = self.permissions.project(name)
        if ref is not None:
            self.permissions.check(self.user, ref, needed, what)

    def readable(self) -> set[str] | None:
        """The ids of the projects the user may read; None: all of them."""
        found = self.permissions.readable_projects(self.user)
        return None if found is None else set(found)

    # ------------------------------------------------------------ models
    def model(self, model: Model, needed: Role, what: str) -> None:
        """403 unless the user has ``needed`` on the model's project. A model without a
        project is read by every user and changed by its creator (and admins)."""
        if self.user.admin:
            return
        if model.project_id is None:
            if needed > Role.viewer and model.user != self.user.name:
                raise self.deny(what, f"model {model.name} v{model.version} has no project "
                                      f"and belongs to {model.user}")
            return
        self.project(model.project_id, needed, what)

    # ------------------------------------------------------------ accounts
    def admin(self, what: str) -> None:
        """403 unless the user is an admin."""
        if not self.user.admin:
            raise self.deny(what, "needs an admin")

    @property
    def runs_agents(self) -> bool:
        """Whether the user may claim and run any task (an agent account or an admin)."""
        return self.user.admin or self.user.agent

    def agent(self, what: str) -> None:
        """403 unless the user is an agent account or an admin."""
        if not self.runs_agents:
            raise self.deny(what, "needs an agent account (or an admin)")

    def search_queue(self, queue: str, what: str) -> bool:
        """Whether ``queue`` is the private queue of a search (``hpo-<controller id[:12]>``,
        a search run with ``local=N``); when it is, 403 unless the user may edit the
        search. Such a queue is served by the search's own agent, which runs as the
        search's user, so only its editors may claim from it, feed it or remove it."""
        match = SEARCH_QUEUE.match(queue)
        if match is None:
            return False
        owners = self.permissions.search_projects(match.group(1))
        if not owners:
            return False
        if not self.user.admin:
            for ref in owners:
                self.permissions.check(self.user, ref, Role.editor,
                                       f"{what} the private queue {queue} of a search")
        return True
