"""Roles of users on projects: the grants, and the lookups the server's permission rules
read.

A user has at most one role granted per project (:class:`Role`: ``viewer`` < ``editor``
< ``owner``). Projects are hierarchical by name, so the grants on ``a`` and ``a/b`` count
for ``a/b/c`` too; the creator of a project owns it and its sub-projects. Which role a
user has on a project once admins and the server's default role are counted, and what
each role may do, are the server's rules (:mod:`tunehouse.server.permissions`): this
area keeps the grants and answers the queries those rules need in one indexed read.

:class:`ProjectRoles` is what owners (and admins) reach over HTTP (``/access/...``); who
may grant is checked by the server before it calls the store. :class:`RoleStore` adds
the lookups only the server makes.
"""

from __future__ import annotations

import abc
import enum
from datetime import datetime
from typing import Literal, cast

from tunehouse.errors import InvalidInput
from tunehouse.store.records import Record

#: A role as it travels in JSON and on the command line.
RoleName = Literal["viewer", "editor", "owner"]


class Role(enum.IntEnum):
    """A user's role on a project; a higher role may do everything a lower one may."""

    viewer = 1
    editor = 2
    owner = 3

    @property
    def label(self) -> RoleName:
        """The role's name as it travels in JSON (``viewer``, ``editor``, ``owner``)."""
        return cast(RoleName, self.name)

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called ``name``; InvalidInput naming the choices else."""
        try:
            return cls[str(name).strip().lower()]
        except KeyError:
            raise InvalidInput(f"unknown role {name!r}: use viewer, editor or owner") from None


def ancestors(name: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]`` (nearest last); the project itself is not included."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class AccessEntry(Record):
    """One user's role on a project: granted on the project itself (``inherited_from``
    null), inherited from an ancestor project (its name), or ``owner`` as the creator of
    the project or of an ancestor (``granted_by`` null)."""

    user: str
    role: RoleName
    inherited_from: str | None = None
    granted_by: str | None = None
    created: datetime | None = None


class ProjectRef(Record):
    """What a permission check needs of a project: its id, name and creator."""

    id: str
    name: str
    creator: str


class ChainLink(Record):
    """A project on the way from a project up to its root: its name, its creator, and the
    role granted there to the user asked about (None: none)."""

    project: str
    creator: str
    role: RoleName | None = None


class ProjectRoles(abc.ABC):
    """The roles granted on projects. ``project`` is a project's name or id (NotFound
    when there is none). Grants and revocations are audited (``role.grant``,
    ``role.revoke``, target the project, with the role before) in their transaction,
    as made by the acting user (``granted_by``)."""

    @abc.abstractmethod
    def list_access(self, project: str) -> list[AccessEntry]:
        """Who has a role of their own on ``project``, by user: the highest of the grants
        on the project and its ancestors (``inherited_from`` names the ancestor; between
        equal roles the nearest), and the creators of the project and its ancestors as
        owners. Admins and the server's default role are not listed."""

    @abc.abstractmethod
    def grant_role(self, project: str, user: str, role: str) -> AccessEntry:
        """Give ``user`` (NotFound when there is none) the role ``role`` (``viewer``,
        ``editor``, ``owner``; InvalidInput else) on ``project``, replacing the role
        granted there before."""

    @abc.abstractmethod
    def revoke_role(self, project: str, user: str) -> bool:
        """Take back the role granted to ``user`` on ``project`` itself (roles inherited
        from ancestors stay; a creator stays owner); False, and nothing written, when
        there was none."""


class RoleStore(ProjectRoles):
    """:class:`ProjectRoles` plus the lookups of the server's permission checks
    (store-only: never over HTTP)."""

    @abc.abstractmethod
    def project_ref(self, name_or_id: str) -> ProjectRef | None:
        """Store-only. The project called (or with the id) ``name_or_id``, also by the
        normalised spelling of a name (``a / b`` is ``a/b``); None when there is none."""

    @abc.abstractmethod
    def task_project(self, task_id: str) -> ProjectRef:
        """Store-only. The project of task ``task_id``; NotFound when there is no such
        task."""

    @abc.abstractmethod
    def search_projects(self, id_prefix: str) -> list[ProjectRef]:
        """Store-only. The projects of the searches (optimizer tasks) whose id starts with
        ``id_prefix`` (hex digits; anything else finds none)."""

    @abc.abstractmethod
    def role_chain(self, user: str, project: ProjectRef) -> list[ChainLink]:
        """Store-only. ``project`` and each of its ancestors that exists, each with its
        creator and the role granted to ``user`` there (one query)."""

    @abc.abstractmethod
    def own_projects(self, user: str) -> list[str]:
        """Store-only. The ids of the projects ``user`` created or holds a role on, and of
        all their sub-projects."""
