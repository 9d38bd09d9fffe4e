"""`scim.user_roles_changed`: written to the outbox in the transaction of the change.

One event per user whose set of Rivane roles changed, keyed by user id, with
the roles before and after. Adding a user to a group that maps to no role
changes no roles and publishes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.telemetry import inject_headers
from services.group_mapping.context import ChangeContext
from services.group_mapping.models import AuditAction, GroupOutboxEvent

USER_ROLES_CHANGED = "scim.user_roles_changed"
EVENT_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class RoleChange:
    """A user's roles before and after one change, each sorted."""

    user_id: uuid.UUID
    before: tuple[str, ...]
    after: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Cause:
    """The change of a group or mapping that changed the roles."""

    org_id: uuid.UUID
    # None when the change spans groups (a deprovisioned user leaves them all).
    group_id: uuid.UUID | None
    action: AuditAction
    audit_event_id: uuid.UUID
    context: ChangeContext
    occurred_at: datetime


async def add_role_events(
    session: AsyncSession, *, changes: Sequence[RoleChange], cause: Cause
) -> None:
    """Queue one `scim.user_roles_changed` per change in the outbox of `session`."""
    if not changes:
        return
    headers = inject_headers()
    rows = [_row(change, cause=cause, headers=headers) for change in changes]
    # One statement for all of them: mapping a role onto a big group changes
    # the roles of every member.
    await session.execute(insert(GroupOutboxEvent), rows)


def _row(
    change: RoleChange, *, cause: Cause, headers: dict[str, str]
) -> dict[str, Any]:
    event_id = uuid.uuid4()
    before, after = set(change.before), set(change.after)
    payload: dict[str, Any] = {
        "event_id": str(event_id),
        "event_type": USER_ROLES_CHANGED,
        "schema_version": EVENT_SCHEMA_VERSION,
        "org_id": str(cause.org_id),
        "user_id": str(change.user_id),
        "roles_before": list(change.before),
        "roles_after": list(change.after),
        "roles_added": sorted(after - before),
        "roles_removed": sorted(before - after),
        "cause": {
            "action": str(cause.action),
            "group_id": None if cause.group_id is None else str(cause.group_id),
            "audit_event_id": str(cause.audit_event_id),
            "source": str(cause.context.source),
        },
        "occurred_at": cause.occurred_at.isoformat(),
        "request_received_at": cause.context.received_at.isoformat(),
        "request_id": cause.context.request_id,
        "trace": headers,
    }
    return {
        "event_id": event_id,
        "topic": USER_ROLES_CHANGED,
        "key": str(change.user_id),
        "payload": payload,
        "headers": {**headers, "event_type": USER_ROLES_CHANGED},
        "created_at": cause.occurred_at,
    }
