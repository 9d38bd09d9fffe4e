"""SCIM token admin: names, prefixes, expiry and last use; admin credentials; admin audit.

Tokens issued before this revision have the old format (`rvn_` and
token_urlsafe, no checksum), which the gateway now refuses without a lookup;
they were only ever issued on development stacks, and are marked revoked here
so that token listings tell the truth about them.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("scim_token", "description", new_column_name="name")
    op.add_column(
        "scim_token",
        sa.Column("prefix", sa.String(length=32), server_default="", nullable=False),
    )
    op.add_column(
        "scim_token", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "scim_token", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE scim_token SET prefix = 'rvn_', revoked_at = coalesce(revoked_at, now())"
    )

    op.create_table(
        "admin_credential",
        sa.Column("credential_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("credential_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "admin_audit",
        sa.Column("audit_id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_credential_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_credential_id"], ["admin_credential.credential_id"]
        ),
        sa.ForeignKeyConstraint(["org_id"], ["org.org_id"]),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    op.create_index(
        "ix_admin_audit_occurred", "admin_audit", ["occurred_at", "audit_id"]
    )
    op.create_index(
        "ix_admin_audit_org_occurred", "admin_audit", ["org_id", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_admin_audit_org_occurred", table_name="admin_audit")
    op.drop_index("ix_admin_audit_occurred", table_name="admin_audit")
    op.drop_table("admin_audit")
    op.drop_table("admin_credential")
    op.drop_column("scim_token", "expires_at")
    op.drop_column("scim_token", "last_used_at")
    op.drop_column("scim_token", "prefix")
    op.alter_column("scim_token", "name", new_column_name="description")
