"""pkh requests: a durable queue of requests for PKH data and their per-student answers

Revision ID: 0002_pkh_request
Revises: 0001_initial
Create Date: 2026-11-22 11:32:10.158559
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002_pkh_request'
down_revision: str | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pkh_request',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('nsm', sa.String(length=12), nullable=True),
    sa.Column('siswa_id', sa.String(length=64), nullable=True),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pkh_request'))
    )
    with op.batch_alter_table('pkh_request', schema=None) as batch_op:
        batch_op.create_index('ix_pkh_request_nsm_status', ['nsm', 'status'], unique=False)
        batch_op.create_index('ix_pkh_request_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('pkh_request_item',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('siswa_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.String(length=300), nullable=True),
    sa.Column('matched_by', sa.String(length=16), nullable=True),
    sa.Column('sync_run_id', sa.String(length=64), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['pkh_request.id'], name=op.f('fk_pkh_request_item_request_id_pkh_request')),
    sa.PrimaryKeyConstraint('request_id', 'position', name=op.f('pk_pkh_request_item'))
    )
    with op.batch_alter_table('pkh_request_item', schema=None) as batch_op:
        batch_op.create_index('ix_pkh_request_item_request_id_state_position', ['request_id', 'state', 'position'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('pkh_request_item', schema=None) as batch_op:
        batch_op.drop_index('ix_pkh_request_item_request_id_state_position')

    op.drop_table('pkh_request_item')
    with op.batch_alter_table('pkh_request', schema=None) as batch_op:
        batch_op.drop_index('ix_pkh_request_status_next_attempt_at')
        batch_op.drop_index('ix_pkh_request_nsm_status')

    op.drop_table('pkh_request')
