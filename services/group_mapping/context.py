"""Who asked for a change and when, for the audit trail and the events."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime


class Source(enum.StrEnum):
    """Where a change came from."""

    SCIM = "SCIM"
    ADMIN = "ADMIN"
    # A Kafka event of another service, such as a user's deprovisioning.
    EVENT = "EVENT"


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """The request behind a change."""

    request_id: str
    token_id: uuid.UUID | None
    received_at: datetime
    source: Source = Source.SCIM
    # For a change another service's event caused: that event's id.
    cause_event_id: str = ""

    @classmethod
    def internal(cls, *, request_id: str, source: Source) -> ChangeContext:
        """Return the context of a change no client request carried."""
        return cls(
            request_id=request_id,
            token_id=None,
            received_at=datetime.now(UTC),
            source=source,
        )


def parse_id(value: str) -> uuid.UUID | None:
    """Return `value` as a UUID, or None when it cannot be one of our ids."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
