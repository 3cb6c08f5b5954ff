"""Sync screen and change feed: peserta_didik.change_seq (commit-ordered change counter), change_counter,
sync_position (what the hub has read of each school), table_sync_log (what each results batch did to each
school), and an index from a history row to its provenance row.

Rows that exist already get change_seq 1 (one change: they were there), and the counter starts at 1.

Revision ID: 0003_sinkronisasi
Revises: 0002_validasi
Create Date: 2026-11-22 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003_sinkronisasi'
down_revision: str | None = '0002_validasi'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_seq', sa.BigInteger(), nullable=False, server_default='0'))
    op.execute("UPDATE peserta_didik SET change_seq = 1")
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.alter_column('change_seq', server_default=None)
        batch_op.create_index('ix_peserta_didik_change_seq_id', ['change_seq', 'peserta_didik_id'], unique=False)
        batch_op.create_index('ix_peserta_didik_sekolah_change_seq_id', ['sekolah_id', 'change_seq', 'peserta_didik_id'], unique=False)

    op.create_table('change_counter',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_change_counter'))
    )
    op.execute("INSERT INTO change_counter (name, value) VALUES ('peserta_didik', 1)")

    op.create_table('sync_position',
    sa.Column('sekolah_id', sa.String(length=36), nullable=False),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['sekolah_id'], ['sekolah.sekolah_id'], name=op.f('fk_sync_position_sekolah_id_sekolah')),
    sa.PrimaryKeyConstraint('sekolah_id', name=op.f('pk_sync_position'))
    )
    op.create_table('table_sync_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sekolah_id', sa.String(length=36), nullable=False),
    sa.Column('table_name', sa.String(length=40), nullable=False),
    sa.Column('sync_run_id', sa.String(length=64), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('begin_sync', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_sync', sa.DateTime(timezone=True), nullable=False),
    sa.Column('n_create', sa.Integer(), nullable=False),
    sa.Column('n_update', sa.Integer(), nullable=False),
    sa.Column('n_konflik', sa.Integer(), nullable=False),
    sa.Column('n_unchanged', sa.Integer(), nullable=False),
    sa.Column('n_rejected', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sekolah_id'], ['sekolah.sekolah_id'], name=op.f('fk_table_sync_log_sekolah_id_sekolah')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_table_sync_log'))
    )
    with op.batch_alter_table('table_sync_log', schema=None) as batch_op:
        batch_op.create_index('ix_table_sync_log_sekolah_end', ['sekolah_id', 'end_sync', 'id'], unique=False)

    with op.batch_alter_table('value_history', schema=None) as batch_op:
        batch_op.create_index('ix_value_history_field_provenance_id', ['field_provenance_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('value_history', schema=None) as batch_op:
        batch_op.drop_index('ix_value_history_field_provenance_id')
    with op.batch_alter_table('table_sync_log', schema=None) as batch_op:
        batch_op.drop_index('ix_table_sync_log_sekolah_end')
    op.drop_table('table_sync_log')
    op.drop_table('sync_position')
    op.drop_table('change_counter')
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.drop_index('ix_peserta_didik_sekolah_change_seq_id')
        batch_op.drop_index('ix_peserta_didik_change_seq_id')
        batch_op.drop_column('change_seq')
