"""integrations and echo refs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 01:34:21.892244
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connector.storage.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('integrations',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('plugin', sa.String(length=40), nullable=False),
    sa.Column('settings_encrypted', sa.Text(), nullable=False),
    sa.Column('health', sa.String(length=16), nullable=False),
    sa.Column('health_reason', sa.Text(), nullable=True),
    sa.Column('checked_at', connector.storage.models.UTCDateTime(), nullable=True),
    sa.Column('created_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_pk'], ['workspaces.pk'], name=op.f('fk_integrations_workspace_pk_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_integrations')),
    sa.UniqueConstraint('workspace_pk', 'plugin', name=op.f('uq_integrations_workspace_pk_plugin'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_ref', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_deliveries_echo', ['plugin', 'external_ref'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_echo')
        batch_op.drop_column('external_ref')

    op.drop_table('integrations')
