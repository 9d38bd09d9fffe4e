"""The rules of SCIM groups: uniqueness, members, audit and role events, atomically.

Every change runs in one transaction that locks the group's row, changes the
attributes and the membership rows, writes one audit row and queues the role
events it causes. A change that changes nothing writes nothing: no version
bump, no audit row, no event (RFC 7644 §3.5.2: a repeated PATCH is harmless).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.errors import NotFound, PreconditionFailed, Uniqueness, clipped
from services.group_mapping import audit, members
from services.group_mapping.context import ChangeContext, parse_id
from services.group_mapping.directory import UserDirectory
from services.group_mapping.events import Cause
from services.group_mapping.members import MemberChanges
from services.group_mapping.models import AuditAction, RoleMapping, ScimGroup, fold_case
from services.group_mapping.patch import (
    AddMembers,
    Attributes,
    GroupPatch,
    RemoveMatching,
    RemoveMembers,
    ReplaceMembers,
    read_patch,
)
from services.group_mapping.resource import read_group
from services.group_mapping.roles import Membership, apply_role_changes
from services.group_mapping.unit_of_work import UnitOfWork
from services.group_mapping.unmapped import UnmappedGroupAlerts

MemberWork = Callable[[AsyncSession, ScimGroup, MemberChanges], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A group as stored, without its members."""

    group_id: uuid.UUID
    org_id: uuid.UUID
    display_name: str
    external_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, group: Any) -> GroupRecord:
        """Copy a `ScimGroup`, or a row of its columns."""
        return cls(
            group_id=group.group_id,
            org_id=group.org_id,
            display_name=group.display_name,
            external_id=group.external_id,
            version=group.version,
            created_at=group.created_at,
            updated_at=group.updated_at,
        )


class GroupService:
    """Create, replace, patch and delete the groups of an org."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        directory: UserDirectory,
        on_committed: Callable[[], None] | None = None,
        alerts: UnmappedGroupAlerts | None = None,
    ) -> None:
        self._sessions = sessions
        self._directory = directory
        self._alerts = alerts
        # Wakes the outbox relay as soon as an event is committed.
        self._on_committed = on_committed or (lambda: None)

    async def create(
        self, *, org_id: uuid.UUID, payload: dict[str, Any], context: ChangeContext
    ) -> tuple[GroupRecord, list[uuid.UUID]]:
        """Create a group from a SCIM Group body; return it and its members."""
        body = read_group(payload)
        member_ids = await self._directory.require_users(
            org_id=org_id, ids=body.member_ids
        )
        now = datetime.now(UTC)
        group = ScimGroup(
            group_id=uuid.uuid4(),
            org_id=org_id,
            display_name=body.display_name,
            external_id=body.external_id,
            version=1,
            created_at=now,
            updated_at=now,
        )
        async with self._unit_of_work() as session:
            await _check_name_free(
                session, group=None, org_id=org_id, name=group.display_name
            )
            session.add(group)
            await session.flush()
            added = await members.add(
                session, group=group, user_ids=list(member_ids.values())
            )
            audit.record(
                session,
                action=AuditAction.CREATE,
                group=group,
                before=None,
                after={**audit.snapshot(group), "membersAdded": _texts(added)},
                context=context,
                occurred_at=now,
            )
        # A new group maps to no role yet.
        if member_ids:
            self._needs_role(group, context)
        return GroupRecord.of(group), list(member_ids.values())

    async def replace(
        self,
        *,
        org_id: uuid.UUID,
        group_id: str,
        payload: dict[str, Any],
        context: ChangeContext,
        expected_version: int = 0,
    ) -> tuple[GroupRecord, list[uuid.UUID]]:
        """Replace a group's attributes and members with a full body (PUT)."""
        body = read_group(payload)
        member_ids = list(
            (
                await self._directory.require_users(org_id=org_id, ids=body.member_ids)
            ).values()
        )

        async def work(
            session: AsyncSession, group: ScimGroup, changes: MemberChanges
        ) -> None:
            await members.replace(
                session, group=group, user_ids=member_ids, changes=changes
            )

        record, _changed = await self._change(
            org_id=org_id,
            group_id=group_id,
            context=context,
            expected_version=expected_version,
            attributes=Attributes(body.display_name, body.external_id),
            work=work,
        )
        return record, member_ids

    async def patch(
        self,
        *,
        org_id: uuid.UUID,
        group_id: str,
        patch_body: object,
        context: ChangeContext,
        expected_version: int = 0,
    ) -> tuple[GroupRecord, bool]:
        """Apply a SCIM PatchOp; a repeat that changes nothing writes nothing."""
        uid = _group_uuid(group_id)
        plan = read_patch(patch_body, group_id=str(uid))
        # The identity service answers while the group row is being locked;
        # nothing is written before its answer.
        checked = self._check_users(org_id=org_id, ids=plan.added_ids)

        async def work(
            session: AsyncSession, group: ScimGroup, changes: MemberChanges
        ) -> None:
            added = await checked
            await _run_member_steps(session, group, plan, added=added, changes=changes)

        try:
            return await self._change(
                org_id=org_id,
                group_id=group_id,
                context=context,
                expected_version=expected_version,
                attributes=plan,
                work=work,
            )
        finally:
            checked.cancel()

    async def delete(
        self,
        *,
        org_id: uuid.UUID,
        group_id: str,
        context: ChangeContext,
        expected_version: int = 0,
    ) -> None:
        """Delete a group, its memberships and its role mappings."""
        async with self._unit_of_work() as session:
            group, roles = await _load(session, org_id=org_id, group_id=group_id)
            _check_version(group, expected_version)
            # Only the members of a group that grants roles need each a look.
            affected = (
                await members.all_members(session, group_id=group.group_id)
                if roles
                else []
            )
            now = datetime.now(UTC)
            audit_id = audit.record(
                session,
                action=AuditAction.DELETE,
                group=group,
                before={**audit.snapshot(group), "roles": sorted(roles)},
                after=None,
                context=context,
                occurred_at=now,
            )
            await session.delete(group)
            await session.flush()
            deleted = GroupRecord.of(group)
            await apply_role_changes(
                session,
                memberships=[Membership(user, True, False) for user in affected],
                group_roles_before=roles,
                group_roles_after=frozenset(),
                cause=Cause(
                    org_id=org_id,
                    group_id=group.group_id,
                    action=AuditAction.DELETE,
                    audit_event_id=audit_id,
                    context=context,
                    occurred_at=now,
                ),
            )
        # Only a group that grants no role can have an open unmapped error.
        if self._alerts is not None and not roles:
            self._alerts.settled(
                org_id=org_id, group_id=deleted.group_id, why="the group was deleted"
            )

    async def _change(
        self,
        *,
        org_id: uuid.UUID,
        group_id: str,
        context: ChangeContext,
        expected_version: int,
        attributes: Attributes | GroupPatch,
        work: MemberWork,
    ) -> tuple[GroupRecord, bool]:
        unit = self._unit_of_work()
        async with unit as session:
            group, roles = await _load(session, org_id=org_id, group_id=group_id)
            _check_version(group, expected_version)

            current = Attributes(group.display_name, group.external_id)
            wanted = (
                attributes.apply_to(current)
                if isinstance(attributes, GroupPatch)
                else attributes
            )
            changes = MemberChanges()
            await work(session, group, changes)
            if wanted == current and not changes:
                unchanged = GroupRecord.of(group)
                unit.discard()
                return unchanged, False

            if wanted.display_name != current.display_name:
                await _check_name_free(
                    session, group=group, org_id=org_id, name=wanted.display_name
                )
            before = audit.snapshot(group)
            now = datetime.now(UTC)
            group.display_name = wanted.display_name
            group.external_id = wanted.external_id
            group.version += 1
            group.updated_at = now
            await session.flush()
            audit_id = audit.record(
                session,
                action=AuditAction.UPDATE,
                group=group,
                before=before,
                after={
                    **audit.snapshot(group),
                    "membersAdded": _texts(changes.gained),
                    "membersRemoved": _texts(changes.lost),
                },
                context=context,
                occurred_at=now,
            )
            await apply_role_changes(
                session,
                memberships=[
                    *(Membership(user, False, True) for user in changes.gained),
                    *(Membership(user, True, False) for user in changes.lost),
                ],
                group_roles_before=roles,
                group_roles_after=roles,
                cause=Cause(
                    org_id=org_id,
                    group_id=group.group_id,
                    action=AuditAction.UPDATE,
                    audit_event_id=audit_id,
                    context=context,
                    occurred_at=now,
                ),
            )
            record = GroupRecord.of(group)
        if changes.gained and not roles:
            self._needs_role(record, context)
        return record, True

    def _needs_role(
        self, group: ScimGroup | GroupRecord, context: ChangeContext
    ) -> None:
        if self._alerts is not None:
            self._alerts.needs_role(
                org_id=group.org_id,
                group_id=group.group_id,
                display_name=group.display_name,
                request_id=context.request_id,
            )

    def _check_users(
        self, *, org_id: uuid.UUID, ids: list[str]
    ) -> asyncio.Task[dict[str, uuid.UUID]]:
        """Start checking that `ids` are users of the org, in the background."""
        task = asyncio.create_task(
            self._directory.require_users(org_id=org_id, ids=ids)
        )
        # A change that fails before it needs the answer still collects it.
        task.add_done_callback(_collect)
        return task

    def _unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessions, on_committed=self._on_committed)


def _collect(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _run_member_steps(
    session: AsyncSession,
    group: ScimGroup,
    plan: GroupPatch,
    *,
    added: Mapping[str, uuid.UUID],
    changes: MemberChanges,
) -> None:
    for step in plan.member_steps:
        if isinstance(step, AddMembers):
            ids = [added[text] for text in step.ids]
            changes.inserted(await members.add(session, group=group, user_ids=ids))
        elif isinstance(step, ReplaceMembers):
            ids = [added[text] for text in step.ids]
            await members.replace(session, group=group, user_ids=ids, changes=changes)
        elif isinstance(step, RemoveMembers):
            # An id that is no UUID names no member; there is nothing to remove.
            ids = [uid for uid in map(parse_id, step.ids) if uid is not None]
            changes.deleted(await members.remove(session, group=group, user_ids=ids))
        elif isinstance(step, RemoveMatching):
            changes.deleted(
                await members.remove_matching(
                    session, group=group, condition=step.condition
                )
            )


def _group_uuid(group_id: str) -> uuid.UUID:
    uid = parse_id(group_id)
    if uid is None:
        raise NotFound(f"Group {clipped(group_id)} not found")
    return uid


async def _load(
    session: AsyncSession, *, org_id: uuid.UUID, group_id: str
) -> tuple[ScimGroup, frozenset[str]]:
    """Return the group, its row locked until the transaction ends, and its roles.

    Mappings change only under the same row lock, so the roles read here hold
    for the whole transaction.
    """
    roles = (
        select(func.coalesce(func.array_agg(RoleMapping.role_id), text("'{}'")))
        .where(RoleMapping.scim_group == ScimGroup.group_id)
        .correlate(ScimGroup)
        .scalar_subquery()
    )
    query = (
        select(ScimGroup, roles)
        .where(ScimGroup.group_id == _group_uuid(group_id), ScimGroup.org_id == org_id)
        .with_for_update(of=ScimGroup)
    )
    found = (await session.execute(query)).one_or_none()
    if found is None:
        raise NotFound(f"Group {clipped(group_id)} not found")
    group, role_ids = found
    return group, frozenset(role_ids)


def _check_version(group: ScimGroup, expected_version: int) -> None:
    """Refuse a write whose If-Match names another version (RFC 7644 §3.14)."""
    if expected_version and expected_version != group.version:
        raise PreconditionFailed(
            f'version mismatch: the group is at W/"{group.version}"'
        )


async def _check_name_free(
    session: AsyncSession, *, group: ScimGroup | None, org_id: uuid.UUID, name: str
) -> None:
    # Folded by the database on both sides, as the unique index folds.
    query = select(ScimGroup.group_id).where(
        ScimGroup.org_id == org_id,
        fold_case(ScimGroup.display_name) == fold_case(literal(name, Text)),
    )
    if group is not None:
        query = query.where(ScimGroup.group_id != group.group_id)
    if (await session.execute(query.limit(1))).first() is not None:
        raise Uniqueness(f"displayName {name!r} is already taken in this org")


def _texts(ids: list[uuid.UUID]) -> list[str]:
    return sorted(str(uid) for uid in ids)
