"""a full read of a gateway's feed as ranges of its student ids

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 07:45:00.000000

* ``feed_read`` / ``feed_read_range``: a full read of a gateway's feed split into ranges of student ids, each a job
  (``sync.feed_ranges``).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'feed_read',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sync_run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('system', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('ranges', sa.Integer(), nullable=False),
        sa.Column('resume_cursor', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['sync_run_id'], ['sync_run.id'], name=op.f('fk_feed_read_sync_run_id_sync_run')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_read')),
    )
    op.create_index(op.f('ix_feed_read_sync_run_id'), 'feed_read', ['sync_run_id'], unique=False)
    op.create_table(
        'feed_read_range',
        sa.Column('read_id', sa.Integer(), nullable=False),
        sa.Column('idx', sa.Integer(), nullable=False),
        sa.Column('id_after', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('id_upto', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('cursor', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['read_id'], ['feed_read.id'], name=op.f('fk_feed_read_range_read_id_feed_read')),
        sa.PrimaryKeyConstraint('read_id', 'idx', name=op.f('pk_feed_read_range')),
    )


def downgrade() -> None:
    op.drop_table('feed_read_range')
    op.drop_index(op.f('ix_feed_read_sync_run_id'), table_name='feed_read')
    op.drop_table('feed_read')
