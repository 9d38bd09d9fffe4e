"""Orgs: their names, creation and listing, for the admin API."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from services.common.errors import InvalidValue, NotFound, Uniqueness
from services.identity.admin_audit import AdminAction, AdminContext, record_action
from services.identity.db import session_factory
from services.identity.models import Org, ScimToken

# Org names appear in URLs, logs and scimctl commands: plain lower-case text.
_ORG_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ORG_NAME_RULE = (
    "an org name is 1 to 64 characters of a-z, 0-9, '.', '_' and '-', "
    "starting with a letter or a digit"
)


@dataclass(frozen=True, slots=True)
class OrgRef:
    """An org's id and name."""

    org_id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class OrgSummary:
    """An org as the admin listing shows it."""

    org_id: uuid.UUID
    name: str
    created_at: datetime
    live_tokens: int


def check_org_name(name: str) -> str:
    """Return `name` when it is a valid org name, else raise `InvalidValue`."""
    if not _ORG_NAME.fullmatch(name):
        raise InvalidValue(ORG_NAME_RULE)
    return name


def live_token_clause() -> ColumnElement[bool]:
    """Return the SQL condition of a token that is neither revoked nor expired."""
    return ScimToken.revoked_at.is_(None) & or_(
        ScimToken.expires_at.is_(None), ScimToken.expires_at > func.now()
    )


async def find_org(connection: AsyncConnection | AsyncSession, name: str) -> OrgRef:
    """Return the org called `name`, or raise `InvalidValue` or `NotFound`."""
    row = (
        await connection.execute(
            select(Org.org_id, Org.name).where(Org.name == check_org_name(name))
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"org {name!r} not found")
    return OrgRef(org_id=row.org_id, name=row.name)


async def ensure_org(
    session: AsyncSession, *, name: str, admin: AdminContext
) -> tuple[OrgRef, bool]:
    """Return the org called `name`, creating it when new; say whether it was."""
    check_org_name(name)
    # Two concurrent creations of the same org must end with one row, and
    # one audit row.
    created = (
        await session.execute(
            insert(Org)
            .values(org_id=uuid.uuid4(), name=name)
            .on_conflict_do_nothing(index_elements=[Org.name])
            .returning(Org.org_id)
        )
    ).scalar_one_or_none()
    if created is None:
        return await find_org(session, name), False

    await record_action(
        session,
        admin=admin,
        action=AdminAction.CREATE_ORG,
        org_id=created,
        target=str(created),
        details={"name": name},
    )
    return OrgRef(org_id=created, name=name), True


class OrgDirectory:
    """Find, create and list orgs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    async def find(self, name: str) -> OrgRef:
        """Return the org called `name`, or raise `InvalidValue` or `NotFound`."""
        async with self._engine.connect() as connection:
            return await find_org(connection, name)

    async def create(self, *, name: str, admin: AdminContext) -> OrgSummary:
        """Create an org, or raise `Uniqueness` when the name is taken."""
        async with self._sessions.begin() as session:
            org, created = await ensure_org(session, name=name, admin=admin)
            if not created:
                raise Uniqueness(f"org {name!r} already exists")
            created_at = (
                await session.execute(
                    select(Org.created_at).where(Org.org_id == org.org_id)
                )
            ).scalar_one()
        return OrgSummary(
            org_id=org.org_id, name=org.name, created_at=created_at, live_tokens=0
        )

    async def list(self) -> list[OrgSummary]:
        """Return every org by name, with how many live tokens each holds."""
        live = (
            select(ScimToken.org_id, func.count().label("live"))
            .where(live_token_clause())
            .group_by(ScimToken.org_id)
            .subquery()
        )
        query = (
            select(Org.org_id, Org.name, Org.created_at, live.c.live)
            .outerjoin(live, live.c.org_id == Org.org_id)
            .order_by(Org.name)
        )
        async with self._engine.connect() as connection:
            rows = list(await connection.execute(query))
        return [
            OrgSummary(
                org_id=row.org_id,
                name=row.name,
                created_at=row.created_at,
                live_tokens=int(row.live or 0),
            )
            for row in rows
        ]
