"""Fold userName case with the ICU root collation in its unique index.

Under the "C" locale, lower() folds ASCII letters only, so "ÖMER" and "ömer"
could both be taken while the service, folding as Python does, refused other
names a userName filter could not find. The index now holds the same folded
form the service compares and filters with (`models.fold_case`).

The upgrade fails if two live users of one org already differ only in the
case of a non-ASCII letter; one of them must be renamed or deprovisioned first.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LIVE = sa.text("status <> 'DEPROVISIONED'")


def upgrade() -> None:
    op.drop_index("uq_user_org_user_name", table_name="user", postgresql_where=_LIVE)
    op.create_index(
        "uq_user_org_user_name",
        "user",
        ["org_id", sa.literal_column('(lower(user_name COLLATE "und-x-icu") COLLATE "C")')],
        unique=True,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_user_org_user_name", table_name="user", postgresql_where=_LIVE)
    op.create_index(
        "uq_user_org_user_name",
        "user",
        ["org_id", sa.literal_column("lower(user_name)")],
        unique=True,
        postgresql_where=_LIVE,
    )
