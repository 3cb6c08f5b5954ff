"""kehadiran_pd: monthly attendance per student; peserta_didik.jenis_keluar_id / tanggal_keluar

Revision ID: 0006_kehadiran_pd
Revises: 0005_kip_sk
Create Date: 2026-12-03 07:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_kehadiran_pd'
down_revision: str | None = '0005_kip_sk'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'kehadiran_pd',
        sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
        sa.Column('tahun', sa.SmallInteger(), nullable=False),
        sa.Column('bulan', sa.SmallInteger(), nullable=False),
        sa.Column('jml_hari_efektif', sa.SmallInteger(), nullable=False),
        sa.Column('jml_sakit', sa.SmallInteger(), nullable=False),
        sa.Column('jml_izin', sa.SmallInteger(), nullable=False),
        sa.Column('jml_tanpa_keterangan', sa.SmallInteger(), nullable=False),
        sa.Column('last_update', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['peserta_didik_id'], ['peserta_didik.peserta_didik_id'],
                                name=op.f('fk_kehadiran_pd_peserta_didik_id_peserta_didik')),
        sa.PrimaryKeyConstraint('peserta_didik_id', 'tahun', 'bulan', name=op.f('pk_kehadiran_pd')),
    )
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jenis_keluar_id', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('tanggal_keluar', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.drop_column('tanggal_keluar')
        batch_op.drop_column('jenis_keluar_id')
    op.drop_table('kehadiran_pd')
