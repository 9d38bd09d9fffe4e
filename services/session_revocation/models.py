"""Tables owned by the session revocation service (SQLAlchemy 2 declarative)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the session revocation schema."""


class RevocationRecord(Base):
    """One completed revocation, kept for the audit trail.

    `event_id` is the id of the identity service's audit row and Kafka event
    of the change, so the chain SCIM request -> state change -> event ->
    revocation can be followed by id.
    """

    __tablename__ = "revocation_record"

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    action: Mapped[str] = mapped_column(String(16))
    # "direct" or "kafka": the path that applied it first.
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(Text)
    request_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tokens_revoked: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_revocation_record_user", "org_id", "user_id", "occurred_at"),
        # Read when Redis lost its data: the revocations of the last lifetime.
        Index("ix_revocation_record_occurred", "occurred_at"),
    )
