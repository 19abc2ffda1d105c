"""Roles per project: the rules of who may read, change and manage what.

A user's role on a project is, from the first rule that applies:

1. ``owner`` for server admins, everywhere;
2. ``owner`` for the creator of the project (``projects.user``) or of one of its ancestors;
3. the highest role granted to the user on the project or on any of its ancestors:
   projects are hierarchical by name, so ``a/b/c`` inherits the grants of ``a/b`` and of
   ``a``;
4. else the server's default role (setting ``default_project_role``: ``viewer``, the
   default, ``editor`` or ``none``).

``viewer`` < ``editor`` < ``owner`` (:class:`Role`): reading needs viewer, changing needs
editor, deleting tasks and handing out roles needs owner. :mod:`tunehouse.server.guarded`
applies these rules to every store call of the API and the web UI; docs/security.md has
the table of operations.

The grants are kept by the store's ``roles`` area
(:class:`~tunehouse.store.interfaces.roles.RoleStore`), which answers what a check needs in
one or two indexed queries: the project (by the task when a task is named), then the
project's chain of ancestors with their creators and the user's grants.
"""

from __future__ import annotations

from tunehouse.errors import NotFound, PermissionDenied
from tunehouse.store.accounts import AccountStore
from tunehouse.store.interfaces.roles import (
    AccessEntry,
    ProjectRef,
    Role,
    RoleName,
    ancestors,
)
from tunehouse.store.records import User

__all__ = ["AccessEntry", "Permissions", "ProjectRef", "Role", "RoleName", "ancestors"]


def _default_role(value: str | Role | None) -> Role | None:
    if value is None or isinstance(value, Role):
        return value
    return None if value.strip().lower() == "none" else Role.parse(value)


class Permissions:
    """The role rules over the accounts of the server's database (see the module
    docstring).

    Args:
        accounts: The accounts (their ``roles`` and ``users``).
        default_role: The role of a user who has none on a project (None or ``none``: no
            access).
    """

    def __init__(self, accounts: AccountStore,
                 default_role: str | Role | None = Role.viewer) -> None:
        self.accounts = accounts
        self.roles = accounts.roles
        self.default_role = _default_role(default_role)

    # ------------------------------------------------------------ lookups
    def project(self, name_or_id: str) -> ProjectRef | None:
        """The project called (or with the id) ``name_or_id``, None when there is none."""
        return self.roles.project_ref(name_or_id)

    def _existing_project(self, name_or_id: str) -> ProjectRef:
        """The project called (or with the id) ``name_or_id``; NotFound when there is none."""
        ref = self.project(name_or_id)
        if ref is None:
            raise NotFound(f"project {name_or_id!r} not found")
        return ref

    def task_project(self, task_id: str) -> ProjectRef:
        """The project of task ``task_id``; NotFound when there is no such task."""
        return self.roles.task_project(task_id)

    def search_projects(self, id_prefix: str) -> list[ProjectRef]:
        """The projects of the searches whose id starts with ``id_prefix``: the owners of
        a search's private queue."""
        return self.roles.search_projects(id_prefix)

    def get_user(self, name: str) -> User:
        """The user called ``name``; NotFound else."""
        return self.accounts.users.get_user(name)

    # ------------------------------------------------------------ roles
    def role_of(self, user: User, project_id: str) -> Role | None:
        """``user``'s role on the project with id (or name) ``project_id``; None when it has
        none. NotFound when there is no such project."""
        if user.admin:
            return Role.owner
        return self.role_in(user, self._existing_project(project_id))

    def role_in(self, user: User, project: ProjectRef) -> Role | None:
        """``user``'s role on ``project`` (one query; none for admins and creators)."""
        if user.admin or project.creator == user.name:
            return Role.owner
        chain = self.roles.role_chain(user.name, project)
        if any(link.creator == user.name for link in chain):  # created an ancestor
            return Role.owner
        granted = [Role[link.role] for link in chain if link.role is not None]
        return max(granted) if granted else self.default_role

    def check(self, user: User, project: ProjectRef, needed: Role, what: str) -> None:
        """PermissionDenied unless ``user`` has at least ``needed`` on ``project``; the
        message names the user, ``what`` was attempted, the project and both roles (not
        the project when the user has no role on it: its name is not theirs to read)."""
        role = self.role_in(user, project)
        if role is None:  # the project's name is not said to whom may not read it
            raise PermissionDenied(f"{user.name} may not {what}: needs {needed.name} on "
                                   "its project, has no role there")
        if role < needed:
            raise PermissionDenied(f"{user.name} may not {what} in project {project.name}: "
                                   f"needs {needed.name}, has {role.name}")

    def require(self, user: User, project_id: str, needed: Role, what: str) -> None:
        """PermissionDenied (403) unless ``user`` has at least ``needed`` on the project
        with id (or name) ``project_id``, e.g. "alice may not delete task 3fa9... in
        project team/vision: needs owner, has viewer". NotFound when there is no such
        project."""
        if user.admin:
            return
        self.check(user, self._existing_project(project_id), needed, what)

    # ------------------------------------------------------------ listings
    def readable_projects(self, user: User) -> list[str] | None:
        """The ids of the projects ``user`` may read; None when that is every project (an
        admin, or a default role that lets everyone read)."""
        if user.admin or self.default_role is not None:
            return None
        return self.roles.own_projects(user.name)
