"""Identity schema: orgs, SCIM tokens, users, provisioning audit and the event outbox.

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('org',
    sa.Column('org_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('org_id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('outbox_event',
    sa.Column('seq', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('event_id')
    )
    op.create_index('ix_outbox_unpublished', 'outbox_event', ['seq'], unique=False, postgresql_where=sa.text('published_at IS NULL'))
    op.create_table('provisioning_audit',
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('org_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('request_id', sa.Text(), nullable=False),
    sa.Column('token_id', sa.UUID(), nullable=True),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('request_received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index(op.f('ix_provisioning_audit_org_id'), 'provisioning_audit', ['org_id'], unique=False)
    op.create_index(op.f('ix_provisioning_audit_user_id'), 'provisioning_audit', ['user_id'], unique=False)
    op.create_table('scim_token',
    sa.Column('token_id', sa.UUID(), nullable=False),
    sa.Column('org_id', sa.UUID(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['org.org_id'], ),
    sa.PrimaryKeyConstraint('token_id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_scim_token_org_id'), 'scim_token', ['org_id'], unique=False)
    op.create_table('user',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('org_id', sa.UUID(), nullable=False),
    sa.Column('user_name', sa.Text(), nullable=False),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deprovisioned_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['org.org_id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_index('ix_user_org_created', 'user', ['org_id', 'created_at', 'user_id'], unique=False)
    op.create_index('ix_user_org_external_id', 'user', ['org_id', 'external_id'], unique=False)
    op.create_index('uq_user_org_user_name', 'user', ['org_id', sa.literal_column('lower(user_name)')], unique=True, postgresql_where=sa.text("status <> 'DEPROVISIONED'"))


def downgrade() -> None:
    op.drop_index('uq_user_org_user_name', table_name='user', postgresql_where=sa.text("status <> 'DEPROVISIONED'"))
    op.drop_index('ix_user_org_external_id', table_name='user')
    op.drop_index('ix_user_org_created', table_name='user')
    op.drop_table('user')
    op.drop_index(op.f('ix_scim_token_org_id'), table_name='scim_token')
    op.drop_table('scim_token')
    op.drop_index(op.f('ix_provisioning_audit_user_id'), table_name='provisioning_audit')
    op.drop_index(op.f('ix_provisioning_audit_org_id'), table_name='provisioning_audit')
    op.drop_table('provisioning_audit')
    op.drop_index('ix_outbox_unpublished', table_name='outbox_event', postgresql_where=sa.text('published_at IS NULL'))
    op.drop_table('outbox_event')
    op.drop_table('org')
