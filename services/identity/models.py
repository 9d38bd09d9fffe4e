"""Tables owned by the identity service (SQLAlchemy 2 declarative mapping)."""

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

# Our clusters run in the "C" locale, where lower() folds ASCII letters only;
# under the ICU root collation it folds every cased letter, as Python does.
# The folded text is compared and ordered bytewise, as before.
CASE_FOLDING_COLLATION = "und-x-icu"


def fold_case(value: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """Return text in the form every case-insensitive comparison uses (RFC 7643 §2.1).

    The unique index on userName holds this expression, so uniqueness, filters
    and sorting agree on which names are the same.
    """
    return collate(func.lower(collate(value, CASE_FOLDING_COLLATION)), "C")


class Base(DeclarativeBase):
    """Declarative base of the identity schema."""


class UserStatus(enum.StrEnum):
    """Lifecycle of a provisioned user."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    DEPROVISIONED = "DEPROVISIONED"


class AuditAction(enum.StrEnum):
    """What a provisioning change did to a user."""

    PROVISION = "PROVISION"
    UPDATE = "UPDATE"
    DEACTIVATE = "DEACTIVATE"
    REACTIVATE = "REACTIVATE"
    DEPROVISION = "DEPROVISION"


class Org(Base):
    """A customer org; every user and token belongs to exactly one."""

    __tablename__ = "org"

    org_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ScimToken(Base):
    """A SCIM bearer token of one org, stored only as its SHA-256 hash.

    A token is live while it is neither revoked nor past `expires_at`; an org
    may hold several live tokens, which is how a rotation keeps the old one
    working during its grace period.
    """

    __tablename__ = "scim_token"

    token_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org.org_id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # What the token is for ("Okta production"), chosen by an admin.
    name: Mapped[str] = mapped_column(Text, default="")
    # The start of the token, shown to admins to tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Written at most once a minute per token and identity process.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AdminCredentialKind(enum.StrEnum):
    """Where an admin credential comes from."""

    # Configured (RIVANE_ADMIN_TOKEN or the token file); the gateway checks
    # it, and its hash is kept here so that audit rows can name it.
    BOOTSTRAP = "BOOTSTRAP"
    # Issued through the admin API; checked here, revocable.
    ISSUED = "ISSUED"


class AdminCredential(Base):
    """A credential of the admin API, stored only as its SHA-256 hash."""

    __tablename__ = "admin_credential"

    credential_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AdminAudit(Base):
    """One row per admin action, written with the change it made."""

    __tablename__ = "admin_audit"

    audit_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_credential_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admin_credential.credential_id")
    )
    action: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org.org_id"))
    # What the action was done to: a token or credential id.
    target: Mapped[str] = mapped_column(Text, default="")
    # Names, ids, times; never a secret or a hash.
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    request_id: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_admin_audit_occurred", "occurred_at", "audit_id"),
        Index("ix_admin_audit_org_occurred", "org_id", "occurred_at"),
    )


class User(Base):
    """A SCIM user.

    `attributes` holds the SCIM representation (core and extension attributes,
    `schemas` included) without `id` and `meta`. `user_name`, `external_id`
    and `status` are copies kept as columns for uniqueness and fast filters;
    `active` in SCIM is derived from `status`.
    """

    __tablename__ = "user"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org.org_id"))
    user_name: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deprovisioned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # RFC 7643 §4.1.1: userName is unique and not case sensitive; a
        # deprovisioned user frees its userName.
        Index(
            "uq_user_org_user_name",
            "org_id",
            fold_case(literal_column("user_name")),
            unique=True,
            postgresql_where=text("status <> 'DEPROVISIONED'"),
        ),
        Index("ix_user_org_external_id", "org_id", "external_id"),
        Index("ix_user_org_created", "org_id", "created_at", "user_id"),
    )


def is_live() -> ColumnElement[bool]:
    """Select the users not deprovisioned, as the userName index's WHERE says.

    The state is written into the SQL, not sent as a parameter: PostgreSQL
    uses a partial index only where it can prove the query implies the
    index's WHERE, and it cannot prove it from a parameter once it caches a
    generic plan for a prepared statement (after five runs). The userName
    checks and lookups would then scan the whole table.
    """
    return User.status != literal_column("'DEPROVISIONED'")


class ProvisioningAudit(Base):
    """One row per state change of a user, written with the change itself."""

    __tablename__ = "provisioning_audit"

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="SCIM")
    request_id: Mapped[str] = mapped_column(Text)
    token_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(BigInteger)
    request_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxEvent(Base):
    """An event waiting for the relay to publish it to Kafka (transactional outbox)."""

    __tablename__ = "outbox_event"

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
            "ix_outbox_unpublished",
            "seq",
            postgresql_where=text("published_at IS NULL"),
        ),
    )


class OrgSchema(Base):
    """A User schema extension an org registered (RFC 7643 §7 Schema document).

    The identity service is its only writer; `version` grows with each change,
    so a cached copy can tell it is stale.
    """

    __tablename__ = "org_schema"

    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org.org_id"), primary_key=True
    )
    urn: Mapped[str] = mapped_column(Text, primary_key=True)
    # The Schema document as registered, in its RFC 7643 §7 JSON form.
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # RFC 7643 §6: whether every User of the org must carry the extension.
    required: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
