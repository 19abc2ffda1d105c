"""Project roles (:mod:`tunehouse.server.permissions`): who has which role on a project
(anyone who may read the project may look), and granting and revoking roles (the
project's owners and admins). ``{project}`` is a project's name (``team/vision``) or id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from tunehouse.server.api._deps import Acting, operation
from tunehouse.server.auth import Principal
from tunehouse.server.guarded import GuardedStore
from tunehouse.server.permissions import AccessEntry, Permissions, Role, RoleName
from tunehouse.store.records import NAME_MAX, Input, User

router = APIRouter(tags=["server"])

UserName = Annotated[str, Path(min_length=1, max_length=NAME_MAX)]


class RoleGrant(Input):
    """The role to give: ``viewer``, ``editor`` or ``owner``."""

    role: RoleName


def _permissions(who: Principal) -> tuple[Permissions, User]:
    """The permissions and the acting user of the request's guarded store."""
    store = who.store
    if not isinstance(store, GuardedStore):  # pragma: no cover - principal() guards it
        raise TypeError("the request's store is not a GuardedStore")
    return store.permissions, store.acting


@operation(router, "server.list_access", response_model=list[AccessEntry])
def list_access(project: str, who: Acting) -> list[AccessEntry]:
    """Who has a role of their own on the project: granted there, inherited from a parent
    project (``inherited_from``), or ``owner`` as the creator of the project or a parent.
    Needs viewer on the project."""
    permissions, acting = _permissions(who)
    permissions.require(acting, project, Role.viewer, "list who has access")
    return permissions.access(project)


@operation(router, "server.grant_role", response_model=AccessEntry)
def grant_role(project: str, user: UserName, body: RoleGrant, who: Acting) -> AccessEntry:
    """Give ``user`` a role on the project (replacing the one granted there before);
    sub-projects inherit it. Needs owner on the project; audited as ``role.grant``."""
    permissions, acting = _permissions(who)
    return permissions.grant(project, user, Role[body.role], acting)


@operation(router, "server.revoke_role", status_code=204, response_class=Response)
def revoke_role(project: str, user: UserName, who: Acting) -> Response:
    """Take back the role granted to ``user`` on the project itself (roles inherited from
    parent projects stay). Needs owner on the project; audited as ``role.revoke``; a user
    without a role there is left as is."""
    permissions, acting = _permissions(who)
    permissions.revoke(project, user, acting)
    return Response(status_code=204)
