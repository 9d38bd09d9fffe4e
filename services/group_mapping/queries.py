"""Reading groups: one group, a filtered page of them, the groups of users.

A group and its members are read in one REPEATABLE READ transaction, so the
members match the version read. Members come from a server-side cursor a page
at a time and go out as they come, and reading a group without its members
never touches a membership row. Each page is checked with the identity
service before it goes out, so a user deprovisioned a moment ago is not
listed while their memberships wait to be dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.errors import NotFound, clipped
from services.group_mapping import members
from services.group_mapping.context import parse_id
from services.group_mapping.directory import UserDirectory
from services.group_mapping.filters import compile_group_filter, group_sort_key
from services.group_mapping.groups import GroupRecord
from services.group_mapping.members import id_array
from services.group_mapping.models import GroupMembership, ScimGroup

_GROUP = ScimGroup.__table__.c
_MEMBERS = GroupMembership.__table__.c
MEMBER_PAGE = 5000


@dataclass(frozen=True, slots=True)
class GroupPart:
    """One part of a read: the total, a group, or a page of its members."""

    total_results: int | None = None
    group: GroupRecord | None = None
    member_ids: Sequence[uuid.UUID] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A group a user belongs to."""

    group_id: uuid.UUID
    display_name: str


class GroupQueries:
    """Read the groups of an org."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        directory: UserDirectory,
        member_page: int = MEMBER_PAGE,
    ) -> None:
        self._engine = engine
        self._directory = directory
        self._member_page = member_page

    async def read(
        self, *, org_id: uuid.UUID, group_id: str, include_members: bool
    ) -> AsyncIterator[GroupPart]:
        """Yield the group, then its members a page at a time, or raise `NotFound`."""
        uid = parse_id(group_id)
        if uid is None:
            raise NotFound(f"Group {clipped(group_id)} not found")
        query = sa.select(ScimGroup.__table__).where(
            _GROUP.group_id == uid, _GROUP.org_id == org_id
        )
        if not include_members:
            # One statement sees one state: no transaction of its own needed.
            async with self._engine.connect() as connection:
                row = (await connection.execute(query)).one_or_none()
            if row is None:
                raise NotFound(f"Group {clipped(group_id)} not found")
            yield GroupPart(group=GroupRecord.of(row))
            return

        async with self._snapshot() as connection:
            row = (await connection.execute(query)).one_or_none()
            if row is None:
                raise NotFound(f"Group {clipped(group_id)} not found")
            yield GroupPart(group=GroupRecord.of(row))
            async for page in self._members(connection, org_id, row.group_id):
                yield GroupPart(member_ids=page)

    async def search(
        self,
        *,
        org_id: uuid.UUID,
        filter_text: str,
        start_index: int,
        count: int,
        sort_by: str = "",
        descending: bool = False,
        include_members: bool = True,
    ) -> AsyncIterator[GroupPart]:
        """Yield how many groups match, then one page of them, each with members."""
        conditions = [_GROUP.org_id == org_id]
        if filter_text.strip():
            conditions.append(compile_group_filter(filter_text))
        # RFC 7644 §3.4.2.4: a stable order, so that pages neither repeat nor
        # skip groups while nothing changes.
        order: list[Any] = [_GROUP.created_at, _GROUP.group_id]
        if sort_by:
            key = group_sort_key(sort_by)
            order = [key.desc() if descending else key.asc(), _GROUP.group_id]

        async with self._snapshot() as connection:
            total = (
                await connection.execute(
                    sa.select(sa.func.count())
                    .select_from(ScimGroup.__table__)
                    .where(*conditions)
                )
            ).scalar_one()
            yield GroupPart(total_results=total)
            if count <= 0 or start_index > total:
                return
            rows = (
                await connection.execute(
                    sa.select(ScimGroup.__table__)
                    .where(*conditions)
                    .order_by(*order)
                    .offset(start_index - 1)
                    .limit(count)
                )
            ).all()
            for row in rows:
                yield GroupPart(group=GroupRecord.of(row))
                if include_members:
                    async for page in self._members(connection, org_id, row.group_id):
                        yield GroupPart(member_ids=page)

    async def groups_of_users(
        self, *, org_id: uuid.UUID, user_ids: Sequence[str]
    ) -> dict[uuid.UUID, list[GroupRef]]:
        """Return the groups of each user that belongs to any, by displayName."""
        wanted = [uid for uid in map(parse_id, user_ids) if uid is not None]
        if not wanted:
            return {}
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                sa.select(_MEMBERS.user_id, _GROUP.group_id, _GROUP.display_name)
                .join_from(
                    GroupMembership.__table__,
                    ScimGroup.__table__,
                    _GROUP.group_id == _MEMBERS.group_id,
                )
                .where(
                    _MEMBERS.user_id == sa.any_(id_array(wanted)),
                    _MEMBERS.org_id == org_id,
                )
                .order_by(_MEMBERS.user_id, _GROUP.display_name, _GROUP.group_id)
            )
            groups: dict[uuid.UUID, list[GroupRef]] = {}
            for user_id, group_id, display_name in rows:
                groups.setdefault(user_id, []).append(GroupRef(group_id, display_name))
        return groups

    async def _members(
        self, connection: AsyncConnection, org_id: uuid.UUID, group_id: uuid.UUID
    ) -> AsyncIterator[list[uuid.UUID]]:
        async for page in members.pages(
            connection, group_id=group_id, page_size=self._member_page
        ):
            live = await self._directory.existing(org_id=org_id, ids=page)
            kept = [user_id for user_id in page if user_id in live]
            if kept:
                yield kept

    def _snapshot(self) -> _Snapshot:
        return _Snapshot(self._engine)


class _Snapshot:
    """A read-only REPEATABLE READ transaction on a connection of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncConnection:
        connection = await self._engine.connect()
        try:
            await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            await connection.begin()
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        return connection

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Nothing was written; ending the transaction either way is the same.
            await connection.rollback()
            await connection.close()
