"""links unique per workspace; parked inbound events

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connector.storage.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('links') as batch:
        batch.add_column(sa.Column('workspace_pk', PK, nullable=True))
    op.execute('UPDATE links SET workspace_pk = (SELECT conversations.workspace_pk FROM conversations '
               'WHERE conversations.pk = links.conversation_pk)')
    with op.batch_alter_table('links') as batch:
        batch.alter_column('workspace_pk', existing_type=PK, nullable=False)
        batch.drop_constraint('uq_links_plugin_external_id', type_='unique')
        batch.create_unique_constraint(op.f('uq_links_workspace_pk_plugin_external_id'),
                                       ['workspace_pk', 'plugin', 'external_id'])
        batch.create_foreign_key(op.f('fk_links_workspace_pk_workspaces'), 'workspaces',
                                 ['workspace_pk'], ['pk'], ondelete='CASCADE')
    op.create_table('parked_events',
    sa.Column('pk', PK, autoincrement=True, nullable=False),
    sa.Column('plugin', sa.String(length=40), nullable=False),
    sa.Column('thread_id', sa.String(length=200), nullable=False),
    sa.Column('workspaces', sa.JSON(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_parked_events'))
    )
    op.create_index('ix_parked_events_thread', 'parked_events', ['plugin', 'thread_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_parked_events_thread', table_name='parked_events')
    op.drop_table('parked_events')
    with op.batch_alter_table('links') as batch:
        batch.drop_constraint(op.f('fk_links_workspace_pk_workspaces'), type_='foreignkey')
        batch.drop_constraint(op.f('uq_links_workspace_pk_plugin_external_id'), type_='unique')
        batch.create_unique_constraint('uq_links_plugin_external_id', ['plugin', 'external_id'])
        batch.drop_column('workspace_pk')
