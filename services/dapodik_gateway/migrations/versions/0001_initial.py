"""Initial schema: sekolah, peserta_didik, field_provenance, value_history, field_observation.

Revision ID: 0001_initial
Revises: 
Create Date: 2026-11-22 10:20:26.773400
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001_initial'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sekolah',
    sa.Column('sekolah_id', sa.String(length=36), nullable=False),
    sa.Column('npsn', sa.String(length=8), nullable=False),
    sa.Column('nama', sa.String(length=150), nullable=False),
    sa.Column('bentuk_pendidikan', sa.String(length=8), nullable=False),
    sa.Column('status_sekolah', sa.String(length=16), nullable=False),
    sa.Column('kode_wilayah', sa.String(length=10), nullable=False),
    sa.Column('create_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_update', sa.DateTime(timezone=True), nullable=False),
    sa.Column('soft_delete', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('sekolah_id', name=op.f('pk_sekolah')),
    sa.UniqueConstraint('npsn', name=op.f('uq_sekolah_npsn'))
    )
    with op.batch_alter_table('sekolah', schema=None) as batch_op:
        batch_op.create_index('ix_sekolah_last_update_id', ['last_update', 'sekolah_id'], unique=False)

    op.create_table('peserta_didik',
    sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
    sa.Column('sekolah_id', sa.String(length=36), nullable=False),
    sa.Column('nipd', sa.String(length=30), nullable=False),
    sa.Column('nisn', sa.String(length=64), nullable=True),
    sa.Column('nik', sa.String(length=64), nullable=True),
    sa.Column('no_kk', sa.String(length=64), nullable=True),
    sa.Column('nama', sa.String(length=100), nullable=False),
    sa.Column('jenis_kelamin', sa.String(length=1), nullable=False),
    sa.Column('tempat_lahir', sa.String(length=100), nullable=False),
    sa.Column('tanggal_lahir', sa.Date(), nullable=False),
    sa.Column('tingkat_pendidikan_id', sa.Integer(), nullable=False),
    sa.Column('nama_ayah', sa.String(length=100), nullable=False),
    sa.Column('nik_ayah', sa.String(length=64), nullable=True),
    sa.Column('nama_ibu_kandung', sa.String(length=100), nullable=False),
    sa.Column('nik_ibu', sa.String(length=64), nullable=True),
    sa.Column('nama_wali', sa.String(length=100), nullable=False),
    sa.Column('nik_wali', sa.String(length=64), nullable=True),
    sa.Column('penerima_kps', sa.Boolean(), nullable=False),
    sa.Column('no_kps', sa.String(length=40), nullable=True),
    sa.Column('penerima_kip', sa.Boolean(), nullable=False),
    sa.Column('no_kip', sa.String(length=10), nullable=True),
    sa.Column('nm_kip', sa.String(length=100), nullable=True),
    sa.Column('layak_pip', sa.Boolean(), nullable=False),
    sa.Column('no_kks', sa.String(length=40), nullable=True),
    sa.Column('status_padan', sa.String(length=32), nullable=True),
    sa.Column('keterangan_padan', sa.String(length=300), nullable=True),
    sa.Column('create_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_update', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_sync', sa.DateTime(timezone=True), nullable=True),
    sa.Column('soft_delete', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['sekolah_id'], ['sekolah.sekolah_id'], name=op.f('fk_peserta_didik_sekolah_id_sekolah')),
    sa.PrimaryKeyConstraint('peserta_didik_id', name=op.f('pk_peserta_didik'))
    )
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.create_index('ix_peserta_didik_last_update_id', ['last_update', 'peserta_didik_id'], unique=False)
        batch_op.create_index('ix_peserta_didik_sekolah_last_update_id', ['sekolah_id', 'last_update', 'peserta_didik_id'], unique=False)

    op.create_table('field_observation',
    sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('observed_seq', sa.BigInteger(), nullable=False),
    sa.Column('provenance_id', sa.Text(), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['peserta_didik_id'], ['peserta_didik.peserta_didik_id'], name=op.f('fk_field_observation_peserta_didik_id_peserta_didik')),
    sa.PrimaryKeyConstraint('peserta_didik_id', 'field', name=op.f('pk_field_observation'))
    )
    op.create_table('field_provenance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
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
    sa.ForeignKeyConstraint(['peserta_didik_id'], ['peserta_didik.peserta_didik_id'], name=op.f('fk_field_provenance_peserta_didik_id_peserta_didik')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_provenance'))
    )
    with op.batch_alter_table('field_provenance', schema=None) as batch_op:
        batch_op.create_index('ix_field_provenance_pd_field', ['peserta_didik_id', 'field', 'id'], unique=False)

    op.create_table('value_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=False),
    sa.Column('new_value', sa.Text(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('changed_by', sa.String(length=64), nullable=True),
    sa.Column('provenance_id', sa.Text(), nullable=True),
    sa.Column('field_provenance_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['field_provenance_id'], ['field_provenance.id'], name=op.f('fk_value_history_field_provenance_id_field_provenance')),
    sa.ForeignKeyConstraint(['peserta_didik_id'], ['peserta_didik.peserta_didik_id'], name=op.f('fk_value_history_peserta_didik_id_peserta_didik')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_value_history'))
    )
    with op.batch_alter_table('value_history', schema=None) as batch_op:
        batch_op.create_index('ix_value_history_pd_id', ['peserta_didik_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('value_history', schema=None) as batch_op:
        batch_op.drop_index('ix_value_history_pd_id')

    op.drop_table('value_history')
    with op.batch_alter_table('field_provenance', schema=None) as batch_op:
        batch_op.drop_index('ix_field_provenance_pd_field')

    op.drop_table('field_provenance')
    op.drop_table('field_observation')
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.drop_index('ix_peserta_didik_sekolah_last_update_id')
        batch_op.drop_index('ix_peserta_didik_last_update_id')

    op.drop_table('peserta_didik')
    with op.batch_alter_table('sekolah', schema=None) as batch_op:
        batch_op.drop_index('ix_sekolah_last_update_id')

    op.drop_table('sekolah')
