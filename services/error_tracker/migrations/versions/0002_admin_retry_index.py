"""Index the retries admins asked for, which the admin audit log lists.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_error_attempt_admin_finished",
        "error_attempt",
        ["finished_at"],
        unique=False,
        postgresql_where=sa.text("trigger = 'admin'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_error_attempt_admin_finished",
        table_name="error_attempt",
        postgresql_where=sa.text("trigger = 'admin'"),
    )
