"""initial schema: madrasah, siswa (with the hub-written PKH fields), field_provenance, field_history,
field_observation

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22 10:25:58.777999
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001_initial'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('madrasah',
    sa.Column('nsm', sa.String(length=12), nullable=False),
    sa.Column('npsn', sa.String(length=8), nullable=False),
    sa.Column('nama', sa.String(length=150), nullable=False),
    sa.Column('jenjang', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('kode_wilayah', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nsm', name=op.f('pk_madrasah'))
    )
    with op.batch_alter_table('madrasah', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_madrasah_npsn'), ['npsn'], unique=False)
        batch_op.create_index('ix_madrasah_updated_at_nsm', ['updated_at', 'nsm'], unique=False)

    op.create_table('siswa',
    sa.Column('siswa_id', sa.String(length=64), nullable=False),
    sa.Column('nsm', sa.String(length=12), nullable=False),
    sa.Column('nisn', sa.String(length=64), nullable=True),
    sa.Column('nik', sa.String(length=64), nullable=True),
    sa.Column('nama', sa.String(length=100), nullable=False),
    sa.Column('jenis_kelamin', sa.String(length=1), nullable=False),
    sa.Column('tempat_lahir', sa.String(length=100), nullable=False),
    sa.Column('tanggal_lahir', sa.Date(), nullable=False),
    sa.Column('tingkat', sa.Integer(), nullable=False),
    sa.Column('rombel', sa.String(length=40), nullable=False),
    sa.Column('status_aktif', sa.Boolean(), nullable=False),
    sa.Column('no_kk', sa.String(length=64), nullable=True),
    sa.Column('nama_ayah', sa.String(length=100), nullable=False),
    sa.Column('nik_ayah', sa.String(length=64), nullable=True),
    sa.Column('nama_ibu_kandung', sa.String(length=100), nullable=False),
    sa.Column('nik_ibu', sa.String(length=64), nullable=True),
    sa.Column('nama_wali', sa.String(length=100), nullable=False),
    sa.Column('nik_wali', sa.String(length=64), nullable=True),
    sa.Column('status_pkh', sa.String(length=32), nullable=True),
    sa.Column('keterangan_pkh', sa.String(length=300), nullable=True),
    sa.Column('penerima_pkh', sa.Boolean(), nullable=True),
    sa.Column('periode_pkh', sa.String(length=40), nullable=True),
    sa.Column('no_kks', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_sync', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['nsm'], ['madrasah.nsm'], name=op.f('fk_siswa_nsm_madrasah')),
    sa.PrimaryKeyConstraint('siswa_id', name=op.f('pk_siswa'))
    )
    with op.batch_alter_table('siswa', schema=None) as batch_op:
        batch_op.create_index('ix_siswa_nsm_updated_at_id', ['nsm', 'updated_at', 'siswa_id'], unique=False)
        batch_op.create_index('ix_siswa_updated_at_id', ['updated_at', 'siswa_id'], unique=False)

    op.create_table('field_observation',
    sa.Column('siswa_id', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('observed_seq', sa.BigInteger(), nullable=False),
    sa.Column('provenance_id', sa.Text(), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['siswa_id'], ['siswa.siswa_id'], name=op.f('fk_field_observation_siswa_id_siswa')),
    sa.PrimaryKeyConstraint('siswa_id', 'field', name=op.f('pk_field_observation'))
    )
    op.create_table('field_provenance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('siswa_id', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('provenance_id', sa.Text(), nullable=False),
    sa.Column('sync_run_id', sa.Text(), nullable=False),
    sa.Column('source_system', sa.Text(), nullable=False),
    sa.Column('source_record', sa.Text(), nullable=False),
    sa.Column('source_version', sa.BigInteger(), nullable=False),
    sa.Column('observed_seq', sa.BigInteger(), nullable=False),
    sa.Column('retrieved_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('matched_by', sa.String(length=16), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['siswa_id'], ['siswa.siswa_id'], name=op.f('fk_field_provenance_siswa_id_siswa')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_provenance'))
    )
    with op.batch_alter_table('field_provenance', schema=None) as batch_op:
        batch_op.create_index('ix_field_provenance_siswa_field', ['siswa_id', 'field'], unique=False)

    op.create_table('field_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('siswa_id', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=False),
    sa.Column('new_value', sa.Text(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('provenance_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['provenance_id'], ['field_provenance.id'], name=op.f('fk_field_history_provenance_id_field_provenance')),
    sa.ForeignKeyConstraint(['siswa_id'], ['siswa.siswa_id'], name=op.f('fk_field_history_siswa_id_siswa')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_history'))
    )
    with op.batch_alter_table('field_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_field_history_provenance_id'), ['provenance_id'], unique=False)
        batch_op.create_index('ix_field_history_siswa_field', ['siswa_id', 'field'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('field_history', schema=None) as batch_op:
        batch_op.drop_index('ix_field_history_siswa_field')
        batch_op.drop_index(batch_op.f('ix_field_history_provenance_id'))

    op.drop_table('field_history')
    with op.batch_alter_table('field_provenance', schema=None) as batch_op:
        batch_op.drop_index('ix_field_provenance_siswa_field')

    op.drop_table('field_provenance')
    op.drop_table('field_observation')
    with op.batch_alter_table('siswa', schema=None) as batch_op:
        batch_op.drop_index('ix_siswa_updated_at_id')
        batch_op.drop_index('ix_siswa_nsm_updated_at_id')

    op.drop_table('siswa')
    with op.batch_alter_table('madrasah', schema=None) as batch_op:
        batch_op.drop_index('ix_madrasah_updated_at_nsm')
        batch_op.drop_index(batch_op.f('ix_madrasah_npsn'))

    op.drop_table('madrasah')
