"""Index revocations by time: rebuilt into Redis after it lost its data.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_revocation_record_occurred",
        "revocation_record",
        ["occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_revocation_record_occurred", table_name="revocation_record")
