"""Tables of the error tracker: errors, their attempts, and client errors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Metadata of the error tracker's tables only."""


class TrackedError(Base):
    """A provisioning failure an admin can act on, with its replayable operation.

    Kind and state are stored by their proto names without prefix
    ("UNMAPPED_GROUP", "OPEN"), so that the rows read well in SQL.
    """

    __tablename__ = "tracked_error"

    error_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    # Empty for an error of the whole stack (an outbox), not of one org.
    org_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    reason_code: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    # {"method", "request_json", "summary", "target"}
    operation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dedup_key: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurrences: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    # Automatic attempts since the error was last opened; bounded by settings.
    auto_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the replay in flight began; a RETRYING row older than the replay
    # deadline belongs to a replica that died, and is taken over.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_retried_by: Mapped[str] = mapped_column(Text)
    last_retried_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(Text)
    trace_id: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        # One live error per cause: a report of the same cause joins it.
        Index(
            "uq_tracked_error_live",
            "org_id",
            "kind",
            "dedup_key",
            unique=True,
            postgresql_where=text("state <> 'RESOLVED'"),
        ),
        Index("ix_tracked_error_last_seen", "last_seen", "error_id"),
        Index(
            "ix_tracked_error_due",
            "next_attempt_at",
            postgresql_where=text("state = 'OPEN' AND next_attempt_at IS NOT NULL"),
        ),
    )


class ErrorAttempt(Base):
    """One retry of an error or the resolution of its cause; never changed."""

    __tablename__ = "error_attempt"

    error_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "auto", "admin" or "source".
    trigger: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(Text)
    status_code: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        # The admin audit log reads admins' retries newest first.
        Index(
            "ix_error_attempt_admin_finished",
            "finished_at",
            postgresql_where=text("trigger = 'admin'"),
        ),
    )


class ClientError(Base):
    """A 4xx the gateway answered, kept for admins for a bounded time."""

    __tablename__ = "client_error"

    client_error_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    scim_type: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_client_error_occurred", "occurred_at", "client_error_id"),
        Index("ix_client_error_org_occurred", "org_id", "occurred_at"),
    )
