"""The audit trail of groups: one row per change, written with the change."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.group_mapping.context import ChangeContext
from services.group_mapping.models import AuditAction, GroupAudit, ScimGroup

logger = logging.getLogger(__name__)


def snapshot(group: ScimGroup) -> dict[str, Any]:
    """Return what an audit row keeps of a group: never its member list."""
    return {
        "displayName": group.display_name,
        "externalId": group.external_id,
        "version": group.version,
    }


def record(
    session: AsyncSession,
    *,
    action: AuditAction,
    group: ScimGroup,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    context: ChangeContext,
    occurred_at: datetime,
) -> uuid.UUID:
    """Add the audit row of a change of `group`; return its id.

    The role events the change causes name this id as their cause.
    """
    event_id = uuid.uuid4()
    if after is not None and "displayName" not in after:
        # A role mapping's row names the group as it was called then, so that
        # a later rename or deletion does not rewrite what the log shows.
        after = {**after, "displayName": group.display_name}
    session.add(
        GroupAudit(
            event_id=event_id,
            org_id=group.org_id,
            group_id=group.group_id,
            action=action,
            source=context.source,
            request_id=context.request_id,
            token_id=context.token_id,
            before=before,
            after=after,
            version=group.version,
            request_received_at=context.received_at,
            occurred_at=occurred_at,
        )
    )
    logger.info(
        "group %s: %s at version %d",
        group.group_id,
        action,
        group.version,
        extra={"org": str(group.org_id), "request_id": context.request_id},
    )
    return event_id
