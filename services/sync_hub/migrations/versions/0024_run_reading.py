"""a plan's reading progress per upstream

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 05:00:00.000000

* ``run_reading`` (``sync_run_id``, ``source``): records a run's plan has read so far from each upstream (the two
  feeds, the KIP listing, the registry), and whether that read has ended. A first national sync's plan reads for
  hours before its units exist; the run's progress shows this meanwhile (``SyncRun.reading``).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'run_reading',
        sa.Column('sync_run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('done', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sync_run_id'], ['sync_run.id'], name=op.f('fk_run_reading_sync_run_id_sync_run')),
        sa.PrimaryKeyConstraint('sync_run_id', 'source', name=op.f('pk_run_reading')),
    )


def downgrade() -> None:
    op.drop_table('run_reading')
