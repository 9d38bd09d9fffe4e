"""Revoking a user's tokens when the user loses access, once per event.

A revocation arrives twice for each deactivation or deletion: first from the
identity service over gRPC (the fast path, `direct`), then as the Kafka event
`scim.user_deprovisioned` (the durable path, `kafka`). Both carry the id of
the change's audit row; whichever comes first applies it, the other finds it
applied. Either way the record of the completed revocation is written, so a
crash between the two steps is repaired by the next delivery.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from services.session_revocation import metrics
from services.session_revocation.errors import InvalidRequest, StoreUnavailable
from services.session_revocation.records import CompletedRevocation, RevocationRecords
from services.session_revocation.store import SessionStore

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# The audit actions that remove a user's access.
REVOKING_ACTIONS = frozenset({"DEACTIVATE", "DEPROVISION"})


class Source(enum.StrEnum):
    """The path a revocation arrived by."""

    DIRECT = "direct"
    KAFKA = "kafka"


@dataclass(frozen=True, slots=True)
class RevocationNotice:
    """A user lost access: what the identity service says about the change."""

    org_id: uuid.UUID
    user_id: uuid.UUID
    event_id: uuid.UUID
    action: str
    request_id: str
    request_received_at: datetime
    occurred_at: datetime

    @classmethod
    def from_event(cls, payload: Mapping[str, Any]) -> RevocationNotice:
        """Read a `scim.user_deprovisioned` event; raise `InvalidRequest`."""
        return cls.build(
            org_id=payload.get("org_id"),
            user_id=payload.get("user_id"),
            event_id=payload.get("event_id"),
            action=payload.get("action"),
            request_id=payload.get("request_id") or "",
            request_received_at=_instant(payload.get("request_received_at")),
            occurred_at=_instant(payload.get("occurred_at")),
        )

    @classmethod
    def build(
        cls,
        *,
        org_id: object,
        user_id: object,
        event_id: object,
        action: object,
        request_id: object,
        request_received_at: datetime | None,
        occurred_at: datetime | None,
    ) -> RevocationNotice:
        """Validate the fields of a notice; raise `InvalidRequest`."""
        if action not in REVOKING_ACTIONS:
            raise InvalidRequest(f"action must be one of {sorted(REVOKING_ACTIONS)}")
        if request_received_at is None or occurred_at is None:
            raise InvalidRequest("request_received_at and occurred_at are required")
        return cls(
            org_id=parse_uuid(org_id, what="org_id"),
            user_id=parse_uuid(user_id, what="user_id"),
            event_id=parse_uuid(event_id, what="event_id"),
            action=str(action),
            request_id=str(request_id)[:128],
            request_received_at=request_received_at,
            occurred_at=occurred_at,
        )


def parse_uuid(value: object, *, what: str) -> uuid.UUID:
    """Return `value` as a UUID, or raise `InvalidRequest` naming the field."""
    try:
        return uuid.UUID(str(value))
    except ValueError as error:
        raise InvalidRequest(f"{what} must be a UUID") from error


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A revocation as recorded, and whether this delivery applied it."""

    revocation: CompletedRevocation
    first: bool


class Revoker:
    """Apply revocation notices and keep their records."""

    def __init__(
        self,
        *,
        store: SessionStore,
        records: RevocationRecords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._records = records
        self._clock = clock

    async def apply(self, notice: RevocationNotice, *, source: Source) -> Outcome:
        """Revoke the user's tokens for this notice, once; return the record."""
        with tracer.start_as_current_span(
            "revoke user",
            attributes={
                "rivane.org_id": str(notice.org_id),
                "scim.resource_id": str(notice.user_id),
                "rivane.event_id": str(notice.event_id),
                "rivane.request_id": notice.request_id,
                "rivane.revocation_source": str(source),
            },
        ):
            try:
                applied = await self._store.apply(
                    org_id=str(notice.org_id),
                    user_id=str(notice.user_id),
                    event_id=str(notice.event_id),
                    occurred_at=notice.occurred_at.timestamp(),
                    now=self._clock(),
                    source=str(source),
                )
                revocation = CompletedRevocation(
                    event_id=notice.event_id,
                    org_id=notice.org_id,
                    user_id=notice.user_id,
                    action=notice.action,
                    source=applied.source,
                    request_id=notice.request_id,
                    request_received_at=notice.request_received_at,
                    occurred_at=notice.occurred_at,
                    completed_at=datetime.fromtimestamp(applied.completed_at, UTC),
                    tokens_revoked=applied.tokens_revoked,
                )
                # Written on every delivery: a crash after the store's step and
                # before this one is repaired by the next delivery.
                await self._records.add(revocation)
            except StoreUnavailable:
                metrics.REVOCATION_FAILURES.labels(source=str(source)).inc()
                raise

        if applied.first:
            self._report(revocation)
        else:
            metrics.REVOCATIONS.labels(source=str(source), outcome="repeat").inc()
        return Outcome(revocation=revocation, first=applied.first)

    async def for_user(
        self, *, org_id: uuid.UUID, user_id: uuid.UUID
    ) -> list[CompletedRevocation]:
        """Return the user's completed revocations, oldest first."""
        return await self._records.for_user(org_id=org_id, user_id=user_id)

    @staticmethod
    def _report(revocation: CompletedRevocation) -> None:
        latency = revocation.latency.total_seconds()
        metrics.REVOCATIONS.labels(source=revocation.source, outcome="applied").inc()
        metrics.REVOCATION_LATENCY.labels(source=revocation.source).observe(latency)
        logger.info(
            "revoked user %s after %s via %s: %d tokens, %.0f ms after the request",
            revocation.user_id,
            revocation.action,
            revocation.source,
            revocation.tokens_revoked,
            latency * 1000,
            extra={
                "request_id": revocation.request_id,
                "org_id": str(revocation.org_id),
                "event_id": str(revocation.event_id),
            },
        )
