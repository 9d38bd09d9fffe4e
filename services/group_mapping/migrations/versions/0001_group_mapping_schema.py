"""Group-mapping schema: groups, memberships, role mappings, audit and outbox.

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
        "group_audit",
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("token_id", sa.UUID(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("request_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index(
        op.f("ix_group_audit_group_id"), "group_audit", ["group_id"], unique=False
    )
    op.create_index(
        op.f("ix_group_audit_org_id"), "group_audit", ["org_id"], unique=False
    )
    op.create_table(
        "group_outbox_event",
        sa.Column("seq", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_group_outbox_unpublished",
        "group_outbox_event",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "scim_group",
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
    )
    op.create_index(
        "ix_scim_group_org_created",
        "scim_group",
        ["org_id", "created_at", "group_id"],
        unique=False,
    )
    op.create_index(
        "ix_scim_group_org_external_id",
        "scim_group",
        ["org_id", "external_id"],
        unique=False,
    )
    op.create_index(
        "uq_scim_group_org_display_name",
        "scim_group",
        [
            "org_id",
            sa.literal_column('(lower(display_name COLLATE "und-x-icu") COLLATE "C")'),
        ],
        unique=True,
    )
    op.create_table(
        "group_membership",
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column(
            "added_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["scim_group.group_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    op.create_index(
        "ix_group_membership_user",
        "group_membership",
        ["user_id", "group_id"],
        unique=False,
    )
    op.create_table(
        "scim_group_role_mapping",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("scim_group", sa.UUID(), nullable=False),
        sa.Column("role_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scim_group"], ["scim_group.group_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scim_group", "role_id"),
    )
    op.create_index(
        op.f("ix_scim_group_role_mapping_org_id"),
        "scim_group_role_mapping",
        ["org_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_scim_group_role_mapping_org_id"), table_name="scim_group_role_mapping"
    )
    op.drop_table("scim_group_role_mapping")
    op.drop_index("ix_group_membership_user", table_name="group_membership")
    op.drop_table("group_membership")
    op.drop_index("uq_scim_group_org_display_name", table_name="scim_group")
    op.drop_index("ix_scim_group_org_external_id", table_name="scim_group")
    op.drop_index("ix_scim_group_org_created", table_name="scim_group")
    op.drop_table("scim_group")
    op.drop_index(
        "ix_group_outbox_unpublished",
        table_name="group_outbox_event",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("group_outbox_event")
    op.drop_index(op.f("ix_group_audit_org_id"), table_name="group_audit")
    op.drop_index(op.f("ix_group_audit_group_id"), table_name="group_audit")
    op.drop_table("group_audit")
