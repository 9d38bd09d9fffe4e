"""A user's audit trail: each change, and when its event left the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.models import OutboxEvent, ProvisioningAudit


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited change of a user and the publication of its event."""

    event_id: uuid.UUID
    action: str
    request_id: str
    version: int
    topic: str
    request_received_at: datetime
    occurred_at: datetime
    # None while the event waits in the outbox.
    published_at: datetime | None
    source: str = "SCIM"
    token_id: uuid.UUID | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditTrail:
    """Read `provisioning_audit` with the outbox state of each event."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def for_user(
        self, *, org_id: uuid.UUID, user_id: uuid.UUID
    ) -> list[AuditEntry]:
        """Return every change of the user, deprovisioned or not, oldest first."""
        query = (
            select(
                ProvisioningAudit.event_id,
                ProvisioningAudit.action,
                ProvisioningAudit.request_id,
                ProvisioningAudit.version,
                ProvisioningAudit.request_received_at,
                ProvisioningAudit.occurred_at,
                ProvisioningAudit.source,
                ProvisioningAudit.token_id,
                ProvisioningAudit.before,
                ProvisioningAudit.after,
                OutboxEvent.topic,
                OutboxEvent.published_at,
            )
            .outerjoin(OutboxEvent, OutboxEvent.event_id == ProvisioningAudit.event_id)
            .where(
                ProvisioningAudit.org_id == org_id,
                ProvisioningAudit.user_id == user_id,
            )
            .order_by(ProvisioningAudit.occurred_at, ProvisioningAudit.version)
        )
        async with self._engine.connect() as connection:
            rows = list(await connection.execute(query))
        return [
            AuditEntry(
                event_id=row.event_id,
                action=row.action,
                request_id=row.request_id,
                version=row.version,
                topic=row.topic or "",
                request_received_at=row.request_received_at,
                occurred_at=row.occurred_at,
                published_at=row.published_at,
                source=row.source,
                token_id=row.token_id,
                before=row.before,
                after=row.after,
            )
            for row in rows
        ]
