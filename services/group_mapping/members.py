"""Memberships as rows: set operations in SQL, and reads a page at a time.

Adding or removing one member of a 50,000-member group is one INSERT or
DELETE of that row; ids travel as one array parameter, however many there
are. Reading members streams them from a server-side cursor, so no more ids
are held than one page.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.group_mapping.member_filter import Predicate
from services.group_mapping.models import GroupMembership, ScimGroup

_MEMBERS = GroupMembership.__table__.c


def id_array(ids: Iterable[uuid.UUID]) -> sa.BindParameter[Any]:
    """Return ids as one `uuid[]` parameter."""
    value: Any = list(ids)
    return sa.bindparam(None, value, type_=ARRAY(UUID(as_uuid=True)))


class MemberChanges:
    """The net change of members over the steps of one request.

    A user removed and added again by one PATCH is no change.
    """

    def __init__(self) -> None:
        self._initially: dict[uuid.UUID, bool] = {}
        self._now: dict[uuid.UUID, bool] = {}

    def inserted(self, ids: Iterable[uuid.UUID]) -> None:
        """Record rows an INSERT created: those users were not members."""
        for user_id in ids:
            self._initially.setdefault(user_id, False)
            self._now[user_id] = True

    def deleted(self, ids: Iterable[uuid.UUID]) -> None:
        """Record rows a DELETE removed: those users were members."""
        for user_id in ids:
            self._initially.setdefault(user_id, True)
            self._now[user_id] = False

    @property
    def gained(self) -> list[uuid.UUID]:
        """Users who are members now and were not before."""
        return [u for u, now in self._now.items() if now and not self._initially[u]]

    @property
    def lost(self) -> list[uuid.UUID]:
        """Users who were members before and are not now."""
        return [u for u, now in self._now.items() if not now and self._initially[u]]

    def __bool__(self) -> bool:
        return bool(self.gained or self.lost)


async def add(
    session: AsyncSession, *, group: ScimGroup, user_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Make users members; return the ones who were not members yet."""
    if not user_ids:
        return []
    new = sa.func.unnest(id_array(user_ids)).table_valued("user_id").render_derived()
    statement = (
        insert(GroupMembership)
        .from_select(
            ["group_id", "user_id", "org_id"],
            sa.select(
                sa.literal(group.group_id, UUID(as_uuid=True)),
                new.c.user_id,
                sa.literal(group.org_id, UUID(as_uuid=True)),
            ),
        )
        .on_conflict_do_nothing()
        .returning(_MEMBERS.user_id)
    )
    return list((await session.execute(statement)).scalars())


async def remove(
    session: AsyncSession, *, group: ScimGroup, user_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Remove these users; return the ones who were members."""
    if not user_ids:
        return []
    return await _delete(
        session, group, _MEMBERS.user_id == sa.any_(id_array(user_ids))
    )


async def remove_matching(
    session: AsyncSession, *, group: ScimGroup, condition: Predicate | None
) -> list[uuid.UUID]:
    """Remove the members a filter selects, or all; return who they were."""
    return await _delete(session, group, condition)


async def replace(
    session: AsyncSession,
    *,
    group: ScimGroup,
    user_ids: Sequence[uuid.UUID],
    changes: MemberChanges,
) -> None:
    """Make exactly these users the members, touching only rows that differ."""
    kept = _MEMBERS.user_id != sa.all_(id_array(user_ids))
    changes.deleted(await _delete(session, group, kept))
    changes.inserted(await add(session, group=group, user_ids=user_ids))


async def pages(
    connection: AsyncConnection, *, group_id: uuid.UUID, page_size: int
) -> AsyncIterator[list[uuid.UUID]]:
    """Yield the members of a group in pages, in a stable order (by id).

    `connection` must be in a transaction; the cursor lives in it.
    """
    result = await connection.stream(
        sa.select(_MEMBERS.user_id)
        .where(_MEMBERS.group_id == group_id)
        .order_by(_MEMBERS.user_id)
        .execution_options(yield_per=page_size)
    )
    async for partition in result.scalars().partitions(page_size):
        yield list(partition)


async def all_members(session: AsyncSession, *, group_id: uuid.UUID) -> list[uuid.UUID]:
    """Return every member of a group; for changes that affect each of them."""
    result = await session.execute(
        sa.select(_MEMBERS.user_id).where(_MEMBERS.group_id == group_id)
    )
    return list(result.scalars())


async def _delete(
    session: AsyncSession, group: ScimGroup, condition: Predicate | None
) -> list[uuid.UUID]:
    statement = sa.delete(GroupMembership).where(_MEMBERS.group_id == group.group_id)
    if condition is not None:
        statement = statement.where(condition)
    result = await session.execute(statement.returning(_MEMBERS.user_id))
    return list(result.scalars())
