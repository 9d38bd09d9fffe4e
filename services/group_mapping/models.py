"""Tables owned by the group-mapping service (SQLAlchemy 2 declarative mapping).

They live in the stack's PostgreSQL database next to the identity service's
tables, but no foreign key crosses to those: users are known by id only, and
the identity service is asked whether an id names one of the org's users.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    SQLColumnExpression,
    String,
    Text,
    collate,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# lower() under the "C" locale folds ASCII letters only; under the ICU root
# collation it folds every cased letter, as Python does. The identity service
# folds userName the same way.
CASE_FOLDING_COLLATION = "und-x-icu"


def fold_case(value: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """Return text in the form case-insensitive comparisons use (RFC 7643 §2.1)."""
    return collate(func.lower(collate(value, CASE_FOLDING_COLLATION)), "C")


class Base(DeclarativeBase):
    """Declarative base of the group-mapping schema."""


class AuditAction(enum.StrEnum):
    """What a change did to a group or to its role mapping."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    MAP_ROLE = "MAP_ROLE"
    UNMAP_ROLE = "UNMAP_ROLE"
    # A deprovisioned user's memberships were dropped.
    DROP_MEMBER = "DROP_MEMBER"


class ScimGroup(Base):
    """A SCIM group; its members are rows of `group_membership`."""

    __tablename__ = "scim_group"

    group_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID)
    display_name: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    # Changes with any attribute and with any change of members.
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # displayName is caseExact false (RFC 7643 §4.2), so names that differ
        # only in case are one name: a filter finds both, so both may not be.
        Index(
            "uq_scim_group_org_display_name",
            "org_id",
            fold_case(literal_column("display_name")),
            unique=True,
        ),
        Index("ix_scim_group_org_external_id", "org_id", "external_id"),
        Index("ix_scim_group_org_created", "org_id", "created_at", "group_id"),
    )


class GroupMembership(Base):
    """One user in one group."""

    __tablename__ = "group_membership"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scim_group.group_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID)
    added_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (Index("ix_group_membership_user", "user_id", "group_id"),)


class RoleMapping(Base):
    """A Rivane role granted to every member of a group.

    `scim_group` holds the group's id: a mapping follows its group through
    renames, and leaves with it when the group is deleted.
    """

    __tablename__ = "scim_group_role_mapping"

    org_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    scim_group: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scim_group.group_id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GroupAudit(Base):
    """One row per change of a group or of its roles, written with the change."""

    __tablename__ = "group_audit"

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    action: Mapped[str] = mapped_column(String(16))
    # SCIM (an identity provider), ADMIN (the admin API) or EVENT (a Kafka
    # event of another service).
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(Text)
    token_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(BigInteger)
    request_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The admin audit log reads role mapping changes newest first.
        Index(
            "ix_group_audit_role_changes",
            "occurred_at",
            postgresql_where=text("action IN ('MAP_ROLE', 'UNMAP_ROLE')"),
        ),
    )


class GroupOutboxEvent(Base):
    """An event waiting for the relay to publish it to Kafka (transactional outbox)."""

    __tablename__ = "group_outbox_event"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID, unique=True)
    topic: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "ix_group_outbox_unpublished",
            "seq",
            postgresql_where=text("published_at IS NULL"),
        ),
    )
