"""Index the role mapping changes, which the admin audit log lists.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ROLE_CHANGES = sa.text("action IN ('MAP_ROLE', 'UNMAP_ROLE')")


def upgrade() -> None:
    op.create_index(
        "ix_group_audit_role_changes",
        "group_audit",
        ["occurred_at"],
        unique=False,
        postgresql_where=_ROLE_CHANGES,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_group_audit_role_changes",
        table_name="group_audit",
        postgresql_where=_ROLE_CHANGES,
    )
