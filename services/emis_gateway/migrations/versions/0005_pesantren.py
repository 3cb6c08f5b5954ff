"""pesantren: institutions of kind PESANTREN (NSPP) beside madrasah (npsn '' when a pesantren has none)

Revision ID: 0005_pesantren
Revises: 0004_sync_log
Create Date: 2026-11-22 12:13:29.776007
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005_pesantren'
down_revision: str | None = '0004_sync_log'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('madrasah', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jenis_lembaga', sa.String(length=10), server_default='MADRASAH', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('madrasah', schema=None) as batch_op:
        batch_op.drop_column('jenis_lembaga')

