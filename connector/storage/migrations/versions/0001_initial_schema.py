"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 01:24:56.808817
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connector.storage.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('receipts',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('received_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_receipts')),
    sa.UniqueConstraint('source', 'key', name=op.f('uq_receipts_source_key'))
    )
    op.create_table('workspaces',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('plan', sa.String(length=20), nullable=False),
    sa.Column('abilities', sa.JSON(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('platform_webhook_url', sa.Text(), nullable=True),
    sa.Column('platform_webhook_secret', sa.Text(), nullable=True),
    sa.Column('created_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_workspaces')),
    sa.UniqueConstraint('id', name=op.f('uq_workspaces_id'))
    )
    op.create_table('api_keys',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', connector.storage.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['workspace_pk'], ['workspaces.pk'], name=op.f('fk_api_keys_workspace_pk_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_workspace_pk'), ['workspace_pk'], unique=False)

    op.create_table('conversations',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('shopper_name', sa.String(length=200), nullable=True),
    sa.Column('shopper_email', sa.String(length=320), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('controller', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('ever_handed_over', sa.Boolean(), nullable=False),
    sa.Column('ever_resolved', sa.Boolean(), nullable=False),
    sa.Column('human_joined', sa.Boolean(), nullable=False),
    sa.Column('created_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_pk'], ['workspaces.pk'], name=op.f('fk_conversations_workspace_pk_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_conversations')),
    sa.UniqueConstraint('id', name=op.f('uq_conversations_id')),
    sa.UniqueConstraint('workspace_pk', 'external_id', name=op.f('uq_conversations_workspace_pk_external_id'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_inbox', ['workspace_pk', 'status', 'controller', 'pk'], unique=False)

    op.create_table('deliveries',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('conversation_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('plugin', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('ordering_key', sa.String(length=120), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=80), nullable=True),
    sa.Column('claimed_at', connector.storage.models.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', connector.storage.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['conversation_pk'], ['conversations.pk'], name=op.f('fk_deliveries_conversation_pk_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_pk'], ['workspaces.pk'], name=op.f('fk_deliveries_workspace_pk_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('id', name=op.f('uq_deliveries_id'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_deliveries_ordering', ['ordering_key', 'pk'], unique=False)

    op.create_table('events',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('conversation_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_name', sa.String(length=200), nullable=True),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('scenario', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_pk'], ['conversations.pk'], name=op.f('fk_events_conversation_pk_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_events')),
    sa.UniqueConstraint('id', name=op.f('uq_events_id'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_conversation', ['conversation_pk', 'pk'], unique=False)

    op.create_table('links',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('conversation_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('plugin', sa.String(length=40), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_pk'], ['conversations.pk'], name=op.f('fk_links_conversation_pk_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_links')),
    sa.UniqueConstraint('conversation_pk', 'plugin', name=op.f('uq_links_conversation_pk_plugin')),
    sa.UniqueConstraint('plugin', 'external_id', name=op.f('uq_links_plugin_external_id'))
    )
    op.create_table('messages',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('conversation_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author', sa.String(length=16), nullable=False),
    sa.Column('author_name', sa.String(length=200), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('created_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_pk'], ['conversations.pk'], name=op.f('fk_messages_conversation_pk_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_messages')),
    sa.UniqueConstraint('id', name=op.f('uq_messages_id'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_conversation', ['conversation_pk', 'pk'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_conversation')

    op.drop_table('messages')
    op.drop_table('links')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_conversation')

    op.drop_table('events')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_ordering')
        batch_op.drop_index('ix_deliveries_due')

    op.drop_table('deliveries')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_inbox')

    op.drop_table('conversations')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_workspace_pk'))

    op.drop_table('api_keys')
    op.drop_table('workspaces')
    op.drop_table('receipts')
