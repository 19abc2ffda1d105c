"""The ``roles`` area on SQL (:mod:`tunehouse.store.interfaces.roles`): grants of roles on
projects and the lookups of the server's permission checks, each one or two indexed
queries."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store import schema as t
from tunehouse.store.interfaces.roles import (
    AccessEntry,
    ChainLink,
    ProjectRef,
    Role,
    RoleStore,
    ancestors,
)
from tunehouse.store.sql.database import DbRow, SqlArea, project_name


def _ref(row: DbRow) -> ProjectRef:
    return ProjectRef(id=row.id, name=row.name, creator=row.user)


def _depth(entry: AccessEntry, name: str) -> int:
    return (entry.inherited_from or name).count("/")


class SqlRoleStore(SqlArea, RoleStore):
    """Roles on projects; grants are made (``granted_by``) and audited as the acting
    user."""

    # ------------------------------------------------------------ lookups
    def project_ref(self, name_or_id: str) -> ProjectRef | None:
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
        query = (sa.select(t.projects.c.id, t.projects.c.name, t.projects.c.user)
                 .join(t.tasks, t.tasks.c.project_id == t.projects.c.id)
                 .where(t.tasks.c.id == task_id))
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"task {task_id!r} not found")
        return _ref(row)

    def search_projects(self, id_prefix: str) -> list[ProjectRef]:
        if not id_prefix or any(c not in "0123456789abcdef" for c in id_prefix):
            return []
        query = (sa.select(t.projects.c.id, t.projects.c.name, t.projects.c.user).distinct()
                 .join(t.tasks, t.tasks.c.project_id == t.projects.c.id)
                 .where(t.tasks.c.id.startswith(id_prefix), t.tasks.c.type == "optimizer"))
        with self._read() as conn:
            return [_ref(row) for row in conn.execute(query).all()]

    def role_chain(self, user: str, project: ProjectRef) -> list[ChainLink]:
        with self._read() as conn:
            return self._chain(conn, user, project)

    def _chain(self, conn: Connection, user: str, project: ProjectRef) -> list[ChainLink]:
        roles, projects = t.project_roles.c, t.projects.c
        rows = conn.execute(
            sa.select(projects.name, projects.user, roles.role)
            .select_from(t.projects.outerjoin(t.project_roles, sa.and_(
                roles.project_id == projects.id, roles.user == user)))
            .where(sa.or_(projects.id == project.id,
                          projects.name.in_(ancestors(project.name))))
        ).all()
        return [ChainLink(project=row.name, creator=row.user,
                          role=row.role if row.role in Role.__members__ else None)
                for row in rows]

    def own_projects(self, user: str) -> list[str]:
        roles = t.project_roles.c
        with self._read() as conn:
            roots = list(conn.execute(sa.union(
                sa.select(t.projects.c.name).where(t.projects.c.user == user),
                sa.select(t.projects.c.name)
                .join(t.project_roles, roles.project_id == t.projects.c.id)
                .where(roles.user == user))).scalars())
            if not roots:
                return []
            within: list[sa.ColumnElement[bool]] = [t.projects.c.name.in_(roots)]
            within += [t.projects.c.name.startswith(root + "/", autoescape=True)
                       for root in roots]
            return list(conn.execute(sa.select(t.projects.c.id).where(sa.or_(*within)))
                        .scalars())

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

    def grant_role(self, project: str, user: str, role: str) -> AccessEntry:
        granted = Role.parse(role)
        with self._write() as conn:
            ref = self._target(conn, project, user)
            before = self._explicit_role(conn, ref.id, user)
            now = self._clock()
            insert = self._insert(t.project_roles).values(
                project_id=ref.id, user=user, role=granted.name, granted_by=self.user,
                created=now)
            conn.execute(insert.on_conflict_do_update(
                index_elements=["project_id", "user"],
                set_={"role": insert.excluded.role, "granted_by": insert.excluded.granted_by,
                      "created": insert.excluded.created}))
            self._audit(conn, "role.grant", "project", ref.id,
                        {"project": ref.name, "user": user, "role": granted.name,
                         "before": before})
        return AccessEntry(user=user, role=granted.label, granted_by=self.user, created=now)

    def revoke_role(self, project: str, user: str) -> bool:
        with self._write() as conn:
            ref = self._target(conn, project, user)
            before = self._explicit_role(conn, ref.id, user)
            if before is None:
                return False
            roles = t.project_roles.c
            conn.execute(sa.delete(t.project_roles).where(
                roles.project_id == ref.id, roles.user == user))
            self._audit(conn, "role.revoke", "project", ref.id,
                        {"project": ref.name, "user": user, "role": None, "before": before})
        return True

    def list_access(self, project: str) -> list[AccessEntry]:
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
