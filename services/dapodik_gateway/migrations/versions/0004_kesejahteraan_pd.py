"""kesejahteraan_pd: a student's welfare programme rows, derived from the record's KIP/KPS/PKH/KKS fields.

Students that exist already get their rows when the app starts (derivation needs the service's rules).

Revision ID: 0004_kesejahteraan_pd
Revises: 0003_sinkronisasi
Create Date: 2026-11-22 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_kesejahteraan_pd'
down_revision: str | None = '0003_sinkronisasi'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('kesejahteraan_pd',
    sa.Column('id_sejahtera_pd', sa.String(length=36), nullable=False),
    sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
    sa.Column('jenis_kesejahteraan_id', sa.SmallInteger(), nullable=False),
    sa.Column('nomor', sa.String(length=40), nullable=True),
    sa.Column('nm_di_kartu', sa.String(length=100), nullable=True),
    sa.Column('dari_tahun', sa.SmallInteger(), nullable=False),
    sa.Column('sampai_tahun', sa.SmallInteger(), nullable=True),
    sa.Column('asal_data', sa.String(length=64), nullable=False),
    sa.Column('create_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_update', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['peserta_didik_id'], ['peserta_didik.peserta_didik_id'], name=op.f('fk_kesejahteraan_pd_peserta_didik_id_peserta_didik')),
    sa.PrimaryKeyConstraint('id_sejahtera_pd', name=op.f('pk_kesejahteraan_pd')),
    sa.UniqueConstraint('peserta_didik_id', 'jenis_kesejahteraan_id', name='uq_kesejahteraan_pd_pd_jenis')
    )


def downgrade() -> None:
    op.drop_table('kesejahteraan_pd')
