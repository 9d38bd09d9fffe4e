"""Provisioning events, written to the outbox in the transaction of the change."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Protocol

from services.common.telemetry import inject_headers
from services.identity.models import AuditAction

EVENT_SCHEMA_VERSION = 1


class EventType(enum.StrEnum):
    """Event types; each is published on the Kafka topic of the same name."""

    USER_PROVISIONED = "scim.user_provisioned"
    USER_UPDATED = "scim.user_updated"
    USER_DEPROVISIONED = "scim.user_deprovisioned"


# What each audited action tells the rest of Rivane. Deactivation and deletion
# both remove access, so both are `scim.user_deprovisioned`; the payload's
# `action` says which.
EVENT_FOR_ACTION: dict[AuditAction, EventType] = {
    AuditAction.PROVISION: EventType.USER_PROVISIONED,
    AuditAction.REACTIVATE: EventType.USER_PROVISIONED,
    AuditAction.UPDATE: EventType.USER_UPDATED,
    AuditAction.DEACTIVATE: EventType.USER_DEPROVISIONED,
    AuditAction.DEPROVISION: EventType.USER_DEPROVISIONED,
}


class UserFacts(Protocol):
    """What an event tells of a user: a stored `User` or one a batch writes."""

    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def org_id(self) -> uuid.UUID: ...
    @property
    def user_name(self) -> str: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def updated_at(self) -> datetime: ...


def user_event_row(
    *,
    event_id: uuid.UUID,
    action: AuditAction,
    user: UserFacts,
    request_id: str,
    request_received_at: datetime,
    occurred_at: datetime,
    attributes: dict[str, Any] | None = None,
    trace_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Return the `outbox_event` row of the event of `action` on `user`.

    `trace_headers` are the current trace context's, computed here unless
    the caller, writing many events in one span, passes them.
    """
    event_type = EVENT_FOR_ACTION[action]
    headers = inject_headers() if trace_headers is None else trace_headers
    payload: dict[str, Any] = {
        "event_id": str(event_id),
        "event_type": str(event_type),
        "schema_version": EVENT_SCHEMA_VERSION,
        "org_id": str(user.org_id),
        "user_id": str(user.user_id),
        "action": str(action),
        "status": user.status,
        "user_name": user.user_name,
        "external_id": user.external_id,
        "version": user.version,
        "occurred_at": occurred_at.isoformat(),
        "request_received_at": request_received_at.isoformat(),
        "request_id": request_id,
        "trace": headers,
    }
    if attributes is not None:
        payload["attributes"] = attributes
    return {
        "event_id": event_id,
        "topic": str(event_type),
        "key": str(user.user_id),
        "payload": payload,
        "headers": {**headers, "event_type": str(event_type)},
        "created_at": occurred_at,
    }
