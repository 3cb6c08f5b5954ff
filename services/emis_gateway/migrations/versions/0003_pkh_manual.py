"""manual PKH data entered by operators, apart from the server data

Revision ID: 0003_pkh_manual
Revises: 0002_pkh_request
Create Date: 2026-11-22 11:39:49.960236
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003_pkh_manual'
down_revision: str | None = '0002_pkh_request'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('siswa', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manual_penerima_pkh', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('manual_periode_pkh', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('manual_no_kks', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('manual_keterangan', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('manual_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('manual_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('siswa', schema=None) as batch_op:
        batch_op.drop_column('manual_at')
        batch_op.drop_column('manual_by')
        batch_op.drop_column('manual_keterangan')
        batch_op.drop_column('manual_no_kks')
        batch_op.drop_column('manual_periode_pkh')
        batch_op.drop_column('manual_penerima_pkh')

