"""Roles per project: who may read, change and manage what, on the server's database.

A user's role on a project is, from the first rule that applies:

1. ``owner`` for server admins, everywhere;
2. ``owner`` for the creator of the project (``projects.user``) or of one of its ancestors;
3. the highest role granted to the user (``project_roles``) on the project or on any of
   its ancestors: projects are hierarchical by name, so ``a/b/c`` inherits the grants of
   ``a/b`` and of ``a``;
4. else the server's default role (setting ``default_project_role``: ``viewer``, the
   default, ``editor`` or ``none``).

``viewer`` < ``editor`` < ``owner`` (:class:`Role`): reading needs viewer, changing needs
editor, deleting tasks and handing out roles needs owner. :mod:`tunehouse.server.guarded`
applies these rules to every store call of the API and the web UI; docs/security.md has
the table of operations.

A check costs one or two indexed queries: the project (by the task when a task is named),
then the grants of the user on the project and all its ancestors at once. Grants and
revocations are written with their audit entry (``role.grant``, ``role.revoke``) in one
transaction.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import InvalidInput, NotFound, PermissionDenied
from tunehouse.store import schema as t
from tunehouse.store.records import Record, TaskPage, TaskQuery, User
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.database import (
    NO_CONTEXT,
    AuditContext,
    Database,
    DbRow,
    SqlArea,
    project_name,
    utcnow,
)
from tunehouse.store.sql.task_query import list_tasks

__all__ = ["AccessEntry", "Permissions", "ProjectRef", "Role", "RoleName", "ancestors"]


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


#: A role as it travels in JSON and on the command line.
RoleName = Literal["viewer", "editor", "owner"]


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
    """What a check needs of a project: its id, name and creator."""

    id: str
    name: str
    creator: str


def ancestors(name: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]`` (nearest last); the project itself is not included."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _default_role(value: str | Role | None) -> Role | None:
    if value is None or isinstance(value, Role):
        return value
    return None if value.strip().lower() == "none" else Role.parse(value)


def _ref(row: DbRow) -> ProjectRef:
    return ProjectRef(id=row.id, name=row.name, creator=row.user)


class Permissions(SqlArea):
    """Roles of users on projects, on the server's database (see the module docstring).

    Args:
        db: The database (``SqlStore.db``).
        user: The acting user, recorded on the audit entries of grants and revocations.
        default_role: The role of a user who has none on a project (None: no access).
        context: Who acted for ``user`` and from where (written on audit entries).
    """

    def __init__(self, db: Database, user: str, default_role: str | Role | None = Role.viewer,
                 context: AuditContext = NO_CONTEXT) -> None:
        super().__init__(db, user, None, context)
        self.default_role = _default_role(default_role)

    @classmethod
    def of(cls, store: SqlStore, default_role: str | Role | None = Role.viewer) -> Permissions:
        """The permissions on ``store``'s database, acting as the store's user (with its
        audit context); ``default_role`` as the setting ``default_project_role`` says."""
        return cls(store.db, store.user, default_role,
                   getattr(store, "context", NO_CONTEXT))

    def _acting(self, user: User) -> Permissions:
        if user.name == self.user:
            return self
        return Permissions(self._db, user.name, self.default_role, self.context)

    # ------------------------------------------------------------ lookups
    def project(self, name_or_id: str) -> ProjectRef | None:
        """The project called (or with the id) ``name_or_id``, None when there is none."""
        with self._read() as conn:
            return self._project_ref(conn, name_or_id)

    def _project_ref(self, conn: Connection, name_or_id: str) -> ProjectRef | None:
        row = self._project(conn, name_or_id)
        if row is None and "/" in name_or_id:
            try:  # the normalised spelling (``a / b`` is project ``a/b``)
                row = self._project(conn, project_name(name_or_id))
            except InvalidInput:
                row = None
        return None if row is None else _ref(row)

    def task_project(self, task_id: str) -> ProjectRef:
        """The project of task ``task_id``; NotFound when there is no such task."""
        query = (sa.select(t.projects.c.id, t.projects.c.name, t.projects.c.user)
                 .join(t.tasks, t.tasks.c.project_id == t.projects.c.id)
                 .where(t.tasks.c.id == task_id))
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"task {task_id!r} not found")
        return _ref(row)

    def search_projects(self, id_prefix: str) -> list[ProjectRef]:
        """The projects of the searches (optimizer tasks) whose id starts with
        ``id_prefix`` (hex digits): the owners of a search's private queue."""
        if not id_prefix or any(c not in "0123456789abcdef" for c in id_prefix):
            return []
        query = (sa.select(t.projects.c.id, t.projects.c.name, t.projects.c.user).distinct()
                 .join(t.tasks, t.tasks.c.project_id == t.projects.c.id)
                 .where(t.tasks.c.id.startswith(id_prefix), t.tasks.c.type == "optimizer"))
        with self._read() as conn:
            return [_ref(row) for row in conn.execute(query).all()]

    def get_user(self, name: str) -> User:
        """The user called ``name``; NotFound else."""
        with self._read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        if row is None:
            raise NotFound(f"user {name!r} not found")
        return User(name=row.name, admin=row.admin, agent=row.agent, source=row.source,
                    disabled=row.disabled, created=row.created)

    # ------------------------------------------------------------ roles
    def role_of(self, user: User, project_id: str) -> Role | None:
        """``user``'s role on the project with id (or name) ``project_id``; None when it has
        none. NotFound when there is no such project."""
        if user.admin:
            return Role.owner
        with self._read() as conn:
            ref = self._project_ref(conn, project_id)
            if ref is None:
                raise NotFound(f"project {project_id!r} not found")
            return self._role(conn, user, ref)

    def role_in(self, user: User, project: ProjectRef) -> Role | None:
        """``user``'s role on ``project`` (one query; none for admins and creators)."""
        if user.admin or project.creator == user.name:
            return Role.owner
        with self._read() as conn:
            return self._role(conn, user, project)

    def _role(self, conn: Connection, user: User, ref: ProjectRef) -> Role | None:
        if user.admin or ref.creator == user.name:
            return Role.owner
        roles = t.project_roles.c
        projects = t.projects.c
        rows = conn.execute(
            sa.select(projects.user, roles.role)
            .select_from(t.projects.outerjoin(t.project_roles, sa.and_(
                roles.project_id == projects.id, roles.user == user.name)))
            .where(sa.or_(projects.id == ref.id, projects.name.in_(ancestors(ref.name))))
        ).all()
        if any(row.user == user.name for row in rows):  # created an ancestor
            return Role.owner
        granted = [Role[row.role] for row in rows if row.role in Role.__members__]
        return max(granted) if granted else self.default_role

    def check(self, user: User, project: ProjectRef, needed: Role, what: str) -> None:
        """PermissionDenied unless ``user`` has at least ``needed`` on ``project``; the
        message names the user, ``what`` was attempted, the project and both roles."""
        role = self.role_in(user, project)
        if role is None or role < needed:
            has = role.name if role is not None else "no role"
            raise PermissionDenied(f"{user.name} may not {what} in project {project.name}: "
                                   f"needs {needed.name}, has {has}")

    def require(self, user: User, project_id: str, needed: Role, what: str) -> None:
        """PermissionDenied (403) unless ``user`` has at least ``needed`` on the project
        with id (or name) ``project_id``, e.g. "alice may not delete task 3fa9... in
        project team/vision: needs owner, has viewer". NotFound when there is no such
        project."""
        if user.admin:
            return
        ref = self.project(project_id)
        if ref is None:
            raise NotFound(f"project {project_id!r} not found")
        self.check(user, ref, needed, what)

    # ------------------------------------------------------------ listings
    def readable_projects(self, user: User) -> list[str] | None:
        """The ids of the projects ``user`` may read; None when that is every project (an
        admin, or a default role that lets everyone read)."""
        if user.admin or self.default_role is not None:
            return None
        roles = t.project_roles.c
        with self._read() as conn:
            roots = list(conn.execute(sa.union(
                sa.select(t.projects.c.name).where(t.projects.c.user == user.name),
                sa.select(t.projects.c.name)
                .join(t.project_roles, roles.project_id == t.projects.c.id)
                .where(roles.user == user.name))).scalars())
            if not roots:
                return []
            within: list[sa.ColumnElement[bool]] = [t.projects.c.name.in_(roots)]
            within += [t.projects.c.name.startswith(root + "/", autoescape=True)
                       for root in roots]
            return list(conn.execute(sa.select(t.projects.c.id).where(sa.or_(*within)))
                        .scalars())

    def list_tasks_within(self, query: TaskQuery, project_ids: list[str]) -> TaskPage:
        """:meth:`~tunehouse.store.interfaces.TaskStore.list_tasks` restricted to the tasks
        of ``project_ids``."""
        with self._read() as conn:
            return list_tasks(conn, query, self.is_postgres, project_ids=project_ids)

    # ------------------------------------------------------------ grants
    def _target(self, conn: Connection, project: str, user: str) -> ProjectRef:
        ref = self._project_ref(conn, project)
        if ref is None:
            raise NotFound(f"project {project!r} not found")
        if conn.execute(sa.select(t.users.c.name).where(t.users.c.name == user)).first() is None:
            raise NotFound(f"user {user!r} not found")
        return ref

    def _explicit_role(self, conn: Connection, project_id: str, user: str) -> str | None:
        roles = t.project_roles.c
        return conn.execute(sa.select(roles.role).where(
            roles.project_id == project_id, roles.user == user)).scalar_one_or_none()

    def grant(self, project: str, user: str, role: Role, by: User) -> AccessEntry:
        """Give ``user`` ``role`` on ``project`` (name or id), replacing the role granted
        there before; ``by`` must own the project (or be an admin). Audited as
        ``role.grant`` in the same transaction."""
        acting = self._acting(by)
        with acting._write() as conn:
            ref = acting._target(conn, project, user)
            acting._check_owner(conn, by, ref, f"grant {role.name} to {user}")
            before = acting._explicit_role(conn, ref.id, user)
            now = utcnow()
            insert = acting._insert(t.project_roles).values(
                project_id=ref.id, user=user, role=role.name, granted_by=by.name, created=now)
            conn.execute(insert.on_conflict_do_update(
                index_elements=["project_id", "user"],
                set_={"role": insert.excluded.role, "granted_by": insert.excluded.granted_by,
                      "created": insert.excluded.created}))
            acting._audit(conn, "role.grant", "project", ref.id,
                          {"project": ref.name, "user": user, "role": role.name,
                           "before": before})
        return AccessEntry(user=user, role=role.label, granted_by=by.name, created=now)

    def revoke(self, project: str, user: str, by: User) -> bool:
        """Take back the role granted to ``user`` on ``project`` itself (roles inherited
        from ancestors stay; a creator stays owner); ``by`` must own the project. False
        when there was none to take back (nothing is written then); audited as
        ``role.revoke`` otherwise."""
        acting = self._acting(by)
        with acting._write() as conn:
            ref = acting._target(conn, project, user)
            acting._check_owner(conn, by, ref, f"revoke the role of {user}")
            before = acting._explicit_role(conn, ref.id, user)
            if before is None:
                return False
            roles = t.project_roles.c
            conn.execute(sa.delete(t.project_roles).where(
                roles.project_id == ref.id, roles.user == user))
            acting._audit(conn, "role.revoke", "project", ref.id,
                          {"project": ref.name, "user": user, "role": None, "before": before})
        return True

    def _check_owner(self, conn: Connection, by: User, ref: ProjectRef, what: str) -> None:
        role = self._role(conn, by, ref)
        if role is not Role.owner:
            has = role.name if role is not None else "no role"
            raise PermissionDenied(f"{by.name} may not {what} in project {ref.name}: "
                                   f"needs owner, has {has}")

    def access(self, project: str) -> list[AccessEntry]:
        """Who has a role of their own on ``project`` (name or id), by user: the highest
        of the grants on the project and its ancestors (``inherited_from`` names the
        ancestor it comes from), and the creators of the project and its ancestors as
        owners. Admins and the default role are not listed."""
        with self._read() as conn:
            ref = self._project_ref(conn, project)
            if ref is None:
                raise NotFound(f"project {project!r} not found")
            projects, roles = t.projects.c, t.project_roles.c
            chain = sa.or_(projects.id == ref.id, projects.name.in_(ancestors(ref.name)))
            creators = conn.execute(sa.select(projects.name, projects.user).where(chain)).all()
            grants = conn.execute(
                sa.select(projects.name, roles.user, roles.role, roles.granted_by,
                          roles.created)
                .join(t.project_roles, roles.project_id == projects.id).where(chain)).all()
        found: dict[str, tuple[Role, AccessEntry]] = {}

        def offer(rank: Role, entry: AccessEntry, depth: int) -> None:
            # the highest role wins; between equal roles the nearest project
            held = found.get(entry.user)
            if held is None or (rank, depth) > (held[0], _depth(held[1], ref.name)):
                found[entry.user] = (rank, entry)

        for row in grants:
            if row.role not in Role.__members__:
                continue
            origin = None if row.name == ref.name else row.name
            offer(Role[row.role], AccessEntry(user=row.user, role=row.role,
                                              inherited_from=origin,
                                              granted_by=row.granted_by,
                                              created=row.created), row.name.count("/"))
        for creator in creators:
            origin = None if creator.name == ref.name else creator.name
            offer(Role.owner, AccessEntry(user=creator.user, role="owner",
                                          inherited_from=origin), creator.name.count("/"))
        return [entry for _, (_, entry) in sorted(found.items())]


def _depth(entry: AccessEntry, name: str) -> int:
    return (entry.inherited_from or name).count("/")
