"""console admins

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:58:15.794319
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connector.storage.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admins',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', connector.storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_pk'], ['workspaces.pk'], name=op.f('fk_admins_workspace_pk_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_admins')),
    sa.UniqueConstraint('email', name=op.f('uq_admins_email')),
    sa.UniqueConstraint('id', name=op.f('uq_admins_id'))
    )


def downgrade() -> None:
    op.drop_table('admins')
