"""The ``roles`` area (project roles, :mod:`tunehouse.server.permissions`): who has which
role on a project (anyone who may read the project may look), and granting and revoking
roles (the project's owners and admins). ``{project}`` is a project's name
(``team/vision``) or id. The checks are :class:`~tunehouse.server.guarded.GuardedProjectRoles`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tunehouse.server.api._deps import Acting, operation
from tunehouse.server.permissions import AccessEntry, RoleName
from tunehouse.store.records import NAME_MAX, Input

router = APIRouter(tags=["server"])

UserName = Annotated[str, Path(min_length=1, max_length=NAME_MAX)]


class RoleGrant(Input):
    """The role to give: ``viewer``, ``editor`` or ``owner``."""

    role: RoleName


@operation(router, "roles.list_access", response_model=list[AccessEntry])
def list_access(project: str, who: Acting) -> list[AccessEntry]:
    """Who has a role of their own on the project: granted there, inherited from a parent
    project (``inherited_from``), or ``owner`` as the creator of the project or a parent.
    Needs viewer on the project."""
    return who.roles.list_access(project)


@operation(router, "roles.grant_role", response_model=AccessEntry)
def grant_role(project: str, user: UserName, body: RoleGrant, who: Acting) -> AccessEntry:
    """Give ``user`` a role on the project (replacing the one granted there before);
    sub-projects inherit it. Needs owner on the project; audited as ``role.grant``."""
    return who.roles.grant_role(project, user, body.role)


@operation(router, "roles.revoke_role", response_model=bool)
def revoke_role(project: str, user: UserName, who: Acting) -> bool:
    """Take back the role granted to ``user`` on the project itself (roles inherited from
    parent projects stay). Needs owner on the project; audited as ``role.revoke``.
    Answers whether there was one to take back (``false``: the user had no role of their
    own there, and nothing changed)."""
    return who.roles.revoke_role(project, user)
