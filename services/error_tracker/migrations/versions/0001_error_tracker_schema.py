"""Error-tracker schema: errors, their attempts, and client errors.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_error",
        sa.Column("client_error_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("scim_type", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_error_id"),
    )
    op.create_index(
        "ix_client_error_occurred",
        "client_error",
        ["occurred_at", "client_error_id"],
        unique=False,
    )
    op.create_index(
        "ix_client_error_org_occurred",
        "client_error",
        ["org_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "error_attempt",
        sa.Column("error_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("error_id", "number"),
    )
    op.create_table(
        "tracked_error",
        sa.Column("error_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reason_code", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("operation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("auto_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_retried_by", sa.Text(), nullable=False),
        sa.Column("last_retried_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("error_id"),
    )
    op.create_index(
        "ix_tracked_error_due",
        "tracked_error",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'OPEN' AND next_attempt_at IS NOT NULL"),
    )
    op.create_index(
        "ix_tracked_error_last_seen",
        "tracked_error",
        ["last_seen", "error_id"],
        unique=False,
    )
    op.create_index(
        "uq_tracked_error_live",
        "tracked_error",
        ["org_id", "kind", "dedup_key"],
        unique=True,
        postgresql_where=sa.text("state <> 'RESOLVED'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_tracked_error_live",
        table_name="tracked_error",
        postgresql_where=sa.text("state <> 'RESOLVED'"),
    )
    op.drop_index("ix_tracked_error_last_seen", table_name="tracked_error")
    op.drop_index(
        "ix_tracked_error_due",
        table_name="tracked_error",
        postgresql_where=sa.text("state = 'OPEN' AND next_attempt_at IS NOT NULL"),
    )
    op.drop_table("tracked_error")
    op.drop_table("error_attempt")
    op.drop_index("ix_client_error_org_occurred", table_name="client_error")
    op.drop_index("ix_client_error_occurred", table_name="client_error")
    op.drop_table("client_error")
