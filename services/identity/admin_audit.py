"""The admin audit log: one row per admin action, written with the change."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.common.errors import InvalidValue
from services.identity.models import AdminAudit, AdminCredential, Org

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class AdminAction(enum.StrEnum):
    """What an admin did."""

    CREATE_ORG = "CREATE_ORG"
    CREATE_TOKEN = "CREATE_TOKEN"
    REVOKE_TOKEN = "REVOKE_TOKEN"
    SET_TOKEN_EXPIRY = "SET_TOKEN_EXPIRY"
    ROTATE_TOKEN = "ROTATE_TOKEN"
    CREATE_ADMIN_CREDENTIAL = "CREATE_ADMIN_CREDENTIAL"
    REVOKE_ADMIN_CREDENTIAL = "REVOKE_ADMIN_CREDENTIAL"
    REGISTER_SCHEMA = "REGISTER_SCHEMA"
    DELETE_SCHEMA = "DELETE_SCHEMA"


@dataclass(frozen=True, slots=True)
class AdminContext:
    """The admin credential behind a change, and the request that carried it."""

    credential_id: uuid.UUID | None
    request_id: str


@dataclass(frozen=True, slots=True)
class AdminAuditEntry:
    """One admin action as the audit listing shows it."""

    audit_id: uuid.UUID
    occurred_at: datetime
    actor_credential_id: uuid.UUID | None
    actor_name: str
    action: str
    org_id: uuid.UUID | None
    org_name: str
    target: str
    details: dict[str, Any]
    request_id: str


async def record_action(
    session: AsyncSession,
    *,
    admin: AdminContext,
    action: AdminAction,
    org_id: uuid.UUID | None,
    target: str,
    details: dict[str, Any],
) -> None:
    """Add the audit row of an admin action to the change's transaction.

    `details` holds names, ids and times only: never a secret or a hash.
    """
    session.add(
        AdminAudit(
            audit_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
            actor_credential_id=admin.credential_id,
            action=action,
            org_id=org_id,
            target=target,
            details=details,
            request_id=admin.request_id,
        )
    )


def iso(moment: datetime | None) -> str | None:
    """Return a time as audit details keep it."""
    return None if moment is None else moment.isoformat()


class AdminAuditLog:
    """Read the admin audit log."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(
        self,
        *,
        org_id: uuid.UUID | None = None,
        action: str = "",
        limit: int = 0,
        before: datetime | None = None,
    ) -> list[AdminAuditEntry]:
        """Return audit rows newest first, filtered by org and action."""
        limit = limit or DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidValue(f"limit must be 1 to {MAX_LIMIT}")
        if action and action not in AdminAction.__members__:
            known = ", ".join(AdminAction)
            raise InvalidValue(f"unknown action {action!r}; one of {known}")

        query = (
            select(
                AdminAudit.audit_id,
                AdminAudit.occurred_at,
                AdminAudit.actor_credential_id,
                AdminAudit.action,
                AdminAudit.org_id,
                AdminAudit.target,
                AdminAudit.details,
                AdminAudit.request_id,
                Org.name.label("org_name"),
                AdminCredential.name.label("actor_name"),
            )
            .outerjoin(Org, Org.org_id == AdminAudit.org_id)
            .outerjoin(
                AdminCredential,
                AdminCredential.credential_id == AdminAudit.actor_credential_id,
            )
            .order_by(AdminAudit.occurred_at.desc(), AdminAudit.audit_id.desc())
            .limit(limit)
        )
        if org_id is not None:
            query = query.where(AdminAudit.org_id == org_id)
        if action:
            query = query.where(AdminAudit.action == action)
        if before is not None:
            query = query.where(AdminAudit.occurred_at < before)

        async with self._engine.connect() as connection:
            rows = list(await connection.execute(query))
        return [
            AdminAuditEntry(
                audit_id=row.audit_id,
                occurred_at=row.occurred_at,
                actor_credential_id=row.actor_credential_id,
                actor_name=row.actor_name or "",
                action=row.action,
                org_id=row.org_id,
                org_name=row.org_name or "",
                target=row.target,
                details=row.details,
                request_id=row.request_id,
            )
            for row in rows
        ]
