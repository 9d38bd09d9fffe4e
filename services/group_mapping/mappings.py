"""Which Rivane roles each group grants, as Rivane admins set them.

A mapping names its group by id: it follows the group through renames, and
goes with it when the group is deleted. Admins may name the group by its
displayName; it is looked up when the mapping is set. Setting or removing a
mapping queues `scim.user_roles_changed` for the members whose roles change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.common.errors import InvalidValue, NotFound, PreconditionFailed, clipped
from services.group_mapping import audit, members
from services.group_mapping.context import ChangeContext, parse_id
from services.group_mapping.events import Cause
from services.group_mapping.models import (
    AuditAction,
    GroupAudit,
    GroupMembership,
    RoleMapping,
    ScimGroup,
    fold_case,
)
from services.group_mapping.roles import (
    Membership,
    apply_role_changes,
    group_roles,
    user_roles,
)
from services.group_mapping.unit_of_work import UnitOfWork
from services.group_mapping.unmapped import UnmappedGroupAlerts

# Role ids are Rivane's own names, as in "finance.approver" or "billing:admin".
ROLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}")

_GROUP = ScimGroup.__table__.c
_MAPPINGS = RoleMapping.__table__.c
_MEMBERS = GroupMembership.__table__.c
_AUDIT = GroupAudit.__table__.c
ROLE_ACTIONS = (AuditAction.MAP_ROLE, AuditAction.UNMAP_ROLE)


@dataclass(frozen=True, slots=True)
class MappingRecord:
    """A role granted by a group."""

    org_id: uuid.UUID
    group_id: uuid.UUID
    display_name: str
    role_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UnmappedGroup:
    """A group that grants no role, for admins to map or leave."""

    group_id: uuid.UUID
    display_name: str
    member_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RoleMappingChange:
    """A role mapping set or removed, as the group's audit trail keeps it."""

    audit_id: uuid.UUID
    org_id: uuid.UUID
    group_id: uuid.UUID
    # The group's name when the change was made (None for a deleted group
    # whose row predates that).
    display_name: str | None
    action: str
    roles_before: list[str]
    roles_after: list[str]
    request_id: str
    credential_id: uuid.UUID | None
    occurred_at: datetime


class RoleMappingService:
    """Set, list and remove the role mappings of an org; answer a user's roles."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine: AsyncEngine,
        *,
        on_committed: Callable[[], None] | None = None,
        alerts: UnmappedGroupAlerts | None = None,
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._on_committed = on_committed or (lambda: None)
        self._alerts = alerts

    async def grant(
        self, *, org_id: uuid.UUID, group: str, role_id: str, context: ChangeContext
    ) -> MappingRecord:
        """Grant `role_id` to the members of a group; setting it again is harmless."""
        if not ROLE_ID.fullmatch(role_id):
            raise InvalidValue(
                "a role id is 1 to 128 letters, digits and . _ : / @ -, "
                "starting with a letter or digit"
            )
        unit = self._unit_of_work()
        async with unit as session:
            target = await _find_group(session, org_id=org_id, group=group)
            before = await group_roles(session, group_id=target.group_id)
            if role_id in before:
                existing = await self._mapping(session, target, role_id)
                unit.discard()
                self._mapped(existing)
                return existing
            now = datetime.now(UTC)
            session.add(
                RoleMapping(
                    org_id=org_id,
                    scim_group=target.group_id,
                    role_id=role_id,
                    created_at=now,
                )
            )
            await session.flush()
            await self._roles_changed(
                session,
                group=target,
                action=AuditAction.MAP_ROLE,
                before=before,
                after=before | {role_id},
                context=context,
                occurred_at=now,
            )
            created = MappingRecord(
                org_id, target.group_id, target.display_name, role_id, now
            )
        self._mapped(created)
        return created

    async def reconcile(self, *, org_id: uuid.UUID, group_id: str) -> list[str]:
        """Return the group's roles; refuse while it maps to none.

        Setting a mapping queues the role events of every member in its own
        transaction, so a mapped group has nothing left to grant.
        """
        uid = parse_id(group_id)
        async with self._engine.connect() as connection:
            found = (
                await connection.execute(
                    sa.select(_GROUP.group_id).where(
                        _GROUP.group_id == uid, _GROUP.org_id == org_id
                    )
                )
            ).scalar_one_or_none()
            if uid is None or found is None:
                raise NotFound(f"Group {clipped(group_id)} not found")
            roles = (
                await connection.execute(
                    sa.select(_MAPPINGS.role_id)
                    .where(_MAPPINGS.scim_group == uid)
                    .order_by(_MAPPINGS.role_id)
                )
            ).scalars()
            granted = list(roles)
        if not granted:
            raise PreconditionFailed(f"group {group_id} maps to no role yet")
        return granted

    def _mapped(self, mapping: MappingRecord) -> None:
        if self._alerts is not None:
            self._alerts.settled(
                org_id=mapping.org_id,
                group_id=mapping.group_id,
                why=f"role {mapping.role_id!r} was mapped to the group",
            )

    async def revoke(
        self,
        *,
        org_id: uuid.UUID,
        group: str,
        role_id: str,
        context: ChangeContext,
    ) -> int:
        """Stop granting `role_id` (every role when empty) through a group."""
        async with self._unit_of_work() as session:
            target = await _find_group(session, org_id=org_id, group=group)
            before = await group_roles(session, group_id=target.group_id)
            removed = {role_id} & before if role_id else set(before)
            if not removed:
                wanted = f"role {role_id!r}" if role_id else "any role"
                raise NotFound(f"group {target.display_name!r} does not grant {wanted}")
            await session.execute(
                sa.delete(RoleMapping).where(
                    _MAPPINGS.scim_group == target.group_id,
                    _MAPPINGS.role_id.in_(sorted(removed)),
                )
            )
            await self._roles_changed(
                session,
                group=target,
                action=AuditAction.UNMAP_ROLE,
                before=before,
                after=before - removed,
                context=context,
                occurred_at=datetime.now(UTC),
            )
        return len(removed)

    async def mappings(self, *, org_id: uuid.UUID) -> list[MappingRecord]:
        """Return the org's mappings, by group name then role."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                sa.select(
                    _MAPPINGS.org_id,
                    _GROUP.group_id,
                    _GROUP.display_name,
                    _MAPPINGS.role_id,
                    _MAPPINGS.created_at,
                )
                .join_from(
                    RoleMapping.__table__,
                    ScimGroup.__table__,
                    _GROUP.group_id == _MAPPINGS.scim_group,
                )
                .where(_MAPPINGS.org_id == org_id)
                .order_by(
                    fold_case(_GROUP.display_name), _GROUP.group_id, _MAPPINGS.role_id
                )
            )
            return [MappingRecord(*row) for row in rows]

    async def changes(
        self,
        *,
        org_id: uuid.UUID | None,
        action: str,
        limit: int,
        before: datetime | None,
    ) -> list[RoleMappingChange]:
        """Return role mappings set and removed, newest first."""
        actions = [action] if action else list(ROLE_ACTIONS)
        query = (
            sa.select(
                _AUDIT.event_id,
                _AUDIT.org_id,
                _AUDIT.group_id,
                _GROUP.display_name,
                _AUDIT.action,
                _AUDIT.before,
                _AUDIT.after,
                _AUDIT.request_id,
                _AUDIT.token_id,
                _AUDIT.occurred_at,
            )
            .outerjoin_from(
                GroupAudit.__table__,
                ScimGroup.__table__,
                _GROUP.group_id == _AUDIT.group_id,
            )
            .where(_AUDIT.action.in_(actions))
        )
        if org_id is not None:
            query = query.where(_AUDIT.org_id == org_id)
        if before is not None:
            query = query.where(_AUDIT.occurred_at < before)
        query = query.order_by(_AUDIT.occurred_at.desc(), _AUDIT.event_id).limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            RoleMappingChange(
                audit_id=row.event_id,
                org_id=row.org_id,
                group_id=row.group_id,
                # As the group was called then; rows written before the name
                # was kept show its name now.
                display_name=(row.after or {}).get("displayName") or row.display_name,
                action=row.action,
                roles_before=list((row.before or {}).get("roles", [])),
                roles_after=list((row.after or {}).get("roles", [])),
                request_id=row.request_id,
                credential_id=row.token_id,
                occurred_at=row.occurred_at,
            )
            for row in rows
        ]

    async def unmapped(self, *, org_id: uuid.UUID) -> list[UnmappedGroup]:
        """Return the org's groups that grant no role, by name."""
        member_count = (
            sa.select(sa.func.count())
            .where(_MEMBERS.group_id == _GROUP.group_id)
            .correlate(ScimGroup.__table__)
            .scalar_subquery()
        )
        mapped = sa.exists(
            sa.select(sa.literal_column("1"))
            .where(_MAPPINGS.scim_group == _GROUP.group_id)
            .correlate(ScimGroup.__table__)
        )
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                sa.select(
                    _GROUP.group_id,
                    _GROUP.display_name,
                    member_count,
                    _GROUP.created_at,
                )
                .where(_GROUP.org_id == org_id, sa.not_(mapped))
                .order_by(fold_case(_GROUP.display_name), _GROUP.group_id)
            )
            return [UnmappedGroup(*row) for row in rows]

    async def user_roles(self, *, org_id: uuid.UUID, user_id: str) -> list[str]:
        """Return a user's roles, sorted; none for an id that names no member."""
        uid = parse_id(user_id)
        if uid is None:
            return []
        async with self._engine.connect() as connection:
            return await user_roles(connection, org_id=org_id, user_id=uid)

    async def _roles_changed(
        self,
        session: AsyncSession,
        *,
        group: ScimGroup,
        action: AuditAction,
        before: frozenset[str],
        after: frozenset[str],
        context: ChangeContext,
        occurred_at: datetime,
    ) -> None:
        audit_id = audit.record(
            session,
            action=action,
            group=group,
            before={"roles": sorted(before)},
            after={"roles": sorted(after)},
            context=context,
            occurred_at=occurred_at,
        )
        affected = await members.all_members(session, group_id=group.group_id)
        await apply_role_changes(
            session,
            memberships=[Membership(user, True, True) for user in affected],
            group_roles_before=before,
            group_roles_after=after,
            cause=Cause(
                org_id=group.org_id,
                group_id=group.group_id,
                action=action,
                audit_event_id=audit_id,
                context=context,
                occurred_at=occurred_at,
            ),
        )

    @staticmethod
    async def _mapping(
        session: AsyncSession, group: ScimGroup, role_id: str
    ) -> MappingRecord:
        created = (
            await session.execute(
                sa.select(_MAPPINGS.created_at).where(
                    _MAPPINGS.scim_group == group.group_id, _MAPPINGS.role_id == role_id
                )
            )
        ).scalar_one()
        return MappingRecord(
            group.org_id, group.group_id, group.display_name, role_id, created
        )

    def _unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessions, on_committed=self._on_committed)


async def _find_group(
    session: AsyncSession, *, org_id: uuid.UUID, group: str
) -> ScimGroup:
    """Return the group `group` names by id, else by displayName, its row locked."""
    name = group.strip()
    uid = parse_id(name)
    conditions = [
        fold_case(ScimGroup.display_name) == fold_case(sa.literal(name, sa.Text))
    ]
    if uid is not None:
        conditions.insert(0, ScimGroup.group_id == uid)
    for condition in conditions:
        found = (
            await session.execute(
                sa.select(ScimGroup)
                .where(ScimGroup.org_id == org_id, condition)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if found is not None:
            return found
    raise NotFound(f"no group {name!r} in this org")
