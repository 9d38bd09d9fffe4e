"""Completed revocations in PostgreSQL: written once per event, read for audits."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.session_revocation.errors import StoreUnavailable
from services.session_revocation.models import RevocationRecord


@dataclass(frozen=True, slots=True)
class CompletedRevocation:
    """A revocation as the audit trail shows it."""

    event_id: uuid.UUID
    org_id: uuid.UUID
    user_id: uuid.UUID
    action: str
    source: str
    request_id: str
    request_received_at: datetime
    occurred_at: datetime
    completed_at: datetime
    tokens_revoked: int

    @property
    def latency(self) -> timedelta:
        """From the SCIM request's arrival to the revocation's completion."""
        return self.completed_at - self.request_received_at


class RevocationRecords:
    """Keep and read the completed revocations."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, revocation: CompletedRevocation) -> None:
        """Record a revocation; a second record of the same event is ignored."""
        statement = (
            insert(RevocationRecord)
            .values(**asdict(revocation))
            .on_conflict_do_nothing(index_elements=[RevocationRecord.event_id])
        )
        try:
            async with self._engine.begin() as connection:
                await connection.execute(statement)
        except (SQLAlchemyError, OSError) as error:
            raise StoreUnavailable("the revocation records are unavailable") from error

    async def for_user(
        self, *, org_id: uuid.UUID, user_id: uuid.UUID
    ) -> list[CompletedRevocation]:
        """Return the user's revocations, oldest first."""
        query = (
            select(RevocationRecord)
            .where(
                RevocationRecord.org_id == org_id, RevocationRecord.user_id == user_id
            )
            .order_by(RevocationRecord.occurred_at)
        )
        try:
            async with self._engine.connect() as connection:
                rows = list(await connection.execute(query))
        except (SQLAlchemyError, OSError) as error:
            raise StoreUnavailable("the revocation records are unavailable") from error
        return [
            CompletedRevocation(
                event_id=row.event_id,
                org_id=row.org_id,
                user_id=row.user_id,
                action=row.action,
                source=row.source,
                request_id=row.request_id,
                request_received_at=row.request_received_at,
                occurred_at=row.occurred_at,
                completed_at=row.completed_at,
                tokens_revoked=row.tokens_revoked,
            )
            for row in rows
        ]

    async def latest_since(self, cutoff: datetime) -> list[tuple[str, str, datetime]]:
        """Return each user's latest revocation that occurred after `cutoff`."""
        query = (
            select(
                RevocationRecord.org_id,
                RevocationRecord.user_id,
                func.max(RevocationRecord.occurred_at).label("occurred_at"),
            )
            .where(RevocationRecord.occurred_at > cutoff)
            .group_by(RevocationRecord.org_id, RevocationRecord.user_id)
        )
        try:
            async with self._engine.connect() as connection:
                rows = list(await connection.execute(query))
        except (SQLAlchemyError, OSError) as error:
            raise StoreUnavailable("the revocation records are unavailable") from error
        return [(str(row.org_id), str(row.user_id), row.occurred_at) for row in rows]
