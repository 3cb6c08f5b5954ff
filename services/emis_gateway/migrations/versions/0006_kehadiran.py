"""kehadiran: monthly attendance per student (kehadiran_siswa); siswa.tanggal_keluar / alasan_keluar

Revision ID: 0006_kehadiran
Revises: 0005_pesantren
Create Date: 2026-11-30 06:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0006_kehadiran'
down_revision: str | None = '0005_pesantren'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'kehadiran_siswa',
        sa.Column('siswa_id', sa.String(length=64), nullable=False),
        sa.Column('tahun', sa.SmallInteger(), nullable=False),
        sa.Column('bulan', sa.SmallInteger(), nullable=False),
        sa.Column('hari_efektif', sa.SmallInteger(), nullable=False),
        sa.Column('sakit', sa.SmallInteger(), nullable=False),
        sa.Column('izin', sa.SmallInteger(), nullable=False),
        sa.Column('alpa', sa.SmallInteger(), nullable=False),
        sa.Column('updated_at', shared.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['siswa_id'], ['siswa.siswa_id'], name=op.f('fk_kehadiran_siswa_siswa_id_siswa')),
        sa.PrimaryKeyConstraint('siswa_id', 'tahun', 'bulan', name=op.f('pk_kehadiran_siswa')),
    )
    with op.batch_alter_table('siswa', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tanggal_keluar', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('alasan_keluar', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('siswa', schema=None) as batch_op:
        batch_op.drop_column('alasan_keluar')
        batch_op.drop_column('tanggal_keluar')
    op.drop_table('kehadiran_siswa')
