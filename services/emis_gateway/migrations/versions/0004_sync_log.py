"""sync log per madrasah and run, batches counted; field_provenance by sync run

Revision ID: 0004_sync_log
Revises: 0003_pkh_manual
Create Date: 2026-11-22 11:53:10.645844
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004_sync_log'
down_revision: str | None = '0003_pkh_manual'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sync_batch',
    sa.Column('sync_run_id', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sync_run_id', 'digest', name=op.f('pk_sync_batch'))
    )
    op.create_table('sync_log',
    sa.Column('nsm', sa.String(length=12), nullable=False),
    sa.Column('sync_run_id', sa.String(length=64), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('applied', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('stale', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('values_written', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('nsm', 'sync_run_id', name=op.f('pk_sync_log'))
    )
    with op.batch_alter_table('sync_log', schema=None) as batch_op:
        batch_op.create_index('ix_sync_log_nsm_last_at', ['nsm', 'last_at'], unique=False)

    with op.batch_alter_table('field_provenance', schema=None) as batch_op:
        batch_op.create_index('ix_field_provenance_sync_run_id', ['sync_run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('field_provenance', schema=None) as batch_op:
        batch_op.drop_index('ix_field_provenance_sync_run_id')

    with op.batch_alter_table('sync_log', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_log_nsm_last_at')

    op.drop_table('sync_log')
    op.drop_table('sync_batch')
