"""A user's Rivane roles: the union of the roles mapped to the user's groups.

Roles are never stored per user; they are read from memberships and mappings.
A change of members or of a mapping computes, for each user it touches, the
roles before and after, and queues `scim.user_roles_changed` for those whose
set differs, in the transaction of the change.

Changes that can alter roles in one org take that org's roles lock, after the
lock on the group row they change. A statement after the lock sees every
change committed before it, so two concurrent changes to one user's groups
report before and after in the order they committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.group_mapping.events import Cause, RoleChange, add_role_events
from services.group_mapping.members import id_array
from services.group_mapping.models import GroupMembership, RoleMapping

_MEMBERS = GroupMembership.__table__.c
_MAPPINGS = RoleMapping.__table__.c
_LOCK_PREFIX = "rivane.group_mapping.roles:"


@dataclass(frozen=True, slots=True)
class Membership:
    """Whether a user was in the group before a change, and is after it."""

    user_id: uuid.UUID
    was_member: bool
    is_member: bool


def role_changes(
    memberships: Iterable[Membership],
    *,
    group_roles_before: frozenset[str],
    group_roles_after: frozenset[str],
    elsewhere: Mapping[uuid.UUID, frozenset[str]],
) -> list[RoleChange]:
    """Return the role changes of the users whose role set differs.

    `elsewhere` holds each user's roles through their other groups, which the
    change leaves as they were.
    """
    changes: list[RoleChange] = []
    for membership in memberships:
        other = elsewhere.get(membership.user_id, frozenset())
        before = other | (group_roles_before if membership.was_member else set())
        after = other | (group_roles_after if membership.is_member else set())
        if before != after:
            changes.append(
                RoleChange(
                    membership.user_id, tuple(sorted(before)), tuple(sorted(after))
                )
            )
    return changes


async def group_roles(session: AsyncSession, *, group_id: uuid.UUID) -> frozenset[str]:
    """Return the roles mapped to a group."""
    result = await session.execute(
        sa.select(_MAPPINGS.role_id).where(_MAPPINGS.scim_group == group_id)
    )
    return frozenset(result.scalars())


async def lock_org_roles(session: AsyncSession, *, org_id: uuid.UUID) -> None:
    """Wait for the roles lock of an org, held until the transaction ends."""
    key = sa.func.hashtextextended(f"{_LOCK_PREFIX}{org_id}", 0)
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def apply_role_changes(
    session: AsyncSession,
    *,
    memberships: Sequence[Membership],
    group_roles_before: frozenset[str],
    group_roles_after: frozenset[str],
    cause: Cause,
) -> int:
    """Queue the role events of a change to one group; return how many.

    A group that maps to no role, before or after, changes no one's roles,
    and costs no query here.
    """
    if not memberships or not (group_roles_before or group_roles_after):
        return 0
    await lock_org_roles(session, org_id=cause.org_id)
    elsewhere = await roles_elsewhere(
        session,
        group_id=cause.group_id,
        user_ids=[membership.user_id for membership in memberships],
    )
    changes = role_changes(
        memberships,
        group_roles_before=group_roles_before,
        group_roles_after=group_roles_after,
        elsewhere=elsewhere,
    )
    await add_role_events(session, changes=changes, cause=cause)
    return len(changes)


async def roles_elsewhere(
    session: AsyncSession, *, group_id: uuid.UUID | None, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, frozenset[str]]:
    """Return each user's roles through groups other than `group_id`."""
    query = (
        sa.select(_MEMBERS.user_id, _MAPPINGS.role_id)
        .join_from(
            GroupMembership.__table__,
            RoleMapping.__table__,
            _MAPPINGS.scim_group == _MEMBERS.group_id,
        )
        .where(_MEMBERS.user_id == sa.any_(id_array(user_ids)))
    )
    if group_id is not None:
        query = query.where(_MEMBERS.group_id != group_id)
    roles: dict[uuid.UUID, set[str]] = {}
    for user_id, role_id in (await session.execute(query)).all():
        roles.setdefault(user_id, set()).add(role_id)
    return {user_id: frozenset(held) for user_id, held in roles.items()}


async def user_roles(
    connection: AsyncConnection, *, org_id: uuid.UUID, user_id: uuid.UUID
) -> list[str]:
    """Return a user's roles, sorted."""
    result = await connection.execute(
        sa.select(_MAPPINGS.role_id)
        .distinct()
        .join_from(
            GroupMembership.__table__,
            RoleMapping.__table__,
            _MAPPINGS.scim_group == _MEMBERS.group_id,
        )
        .where(_MEMBERS.user_id == user_id, _MEMBERS.org_id == org_id)
        .order_by(_MAPPINGS.role_id)
    )
    return list(result.scalars())
