"""Orgs looked up by name, for the admin API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.errors import NotFound
from services.identity.models import Org


@dataclass(frozen=True, slots=True)
class OrgRef:
    """An org's id and name."""

    org_id: uuid.UUID
    name: str


class OrgDirectory:
    """Find orgs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def find(self, name: str) -> OrgRef:
        """Return the org called `name`, or raise `NotFound`."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(Org.org_id, Org.name).where(Org.name == name.strip())
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"org {name!r} not found")
        return OrgRef(org_id=row.org_id, name=row.name)
