"""replica slices from indexes; on-demand checks recorded apart from sync runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00.000000

* ``replica_anggota.kab``: the family's kabupaten (first 4 digits of its kode_wilayah), backfilled here and
  written with every member by the replica writer; indexes (kab, tanggal_lahir), (nama_norm, tanggal_lahir),
  (ibu_norm, tanggal_lahir): a matcher's slice of the registry (``replica/slice.py``) is read through them.
* ``hub_check`` / ``hub_check_outcome``: each on-demand check and its students' outcomes (a check is not a
  sync run).
* ``provenance``: its ``sync_run_id`` names the activity (a sync run or a check) and its ``provenance_id``
  the item (an outbox row, or an item a check returned), so the foreign keys to ``sync_run`` and
  ``outbox_item`` go.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kab', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True))
    op.execute("UPDATE replica_anggota SET kab = (SELECT substr(k.kode_wilayah, 1, 4) FROM replica_keluarga k "
               "WHERE k.no_kk = replica_anggota.no_kk)")
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.create_index('ix_replica_anggota_kab_tanggal_lahir', ['kab', 'tanggal_lahir'], unique=False)
        batch_op.create_index('ix_replica_anggota_nama_norm_tanggal_lahir', ['nama_norm', 'tanggal_lahir'],
                              unique=False)
        batch_op.create_index('ix_replica_anggota_ibu_norm_tanggal_lahir', ['ibu_norm', 'tanggal_lahir'],
                              unique=False)

    op.create_table('hub_check',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('system', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('client', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('observed_seq', sa.BigInteger(), nullable=False),
    sa.Column('students', sa.Integer(), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_check'))
    )
    with op.batch_alter_table('hub_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hub_check_created_at'), ['created_at'], unique=False)
    op.create_table('hub_check_outcome',
    sa.Column('check_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('student_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('matched_by', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.ForeignKeyConstraint(['check_id'], ['hub_check.id'],
                            name=op.f('fk_hub_check_outcome_check_id_hub_check')),
    sa.PrimaryKeyConstraint('check_id', 'student_id', name=op.f('pk_hub_check_outcome'))
    )

    with op.batch_alter_table('provenance', schema=None) as batch_op:
        batch_op.drop_constraint('fk_provenance_provenance_id_outbox_item', type_='foreignkey')
        batch_op.drop_constraint('fk_provenance_sync_run_id_sync_run', type_='foreignkey')


def downgrade() -> None:
    op.execute("DELETE FROM provenance WHERE sync_run_id IN (SELECT id FROM hub_check)")
    with op.batch_alter_table('provenance', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_provenance_sync_run_id_sync_run', 'sync_run', ['sync_run_id'], ['id'])
        batch_op.create_foreign_key('fk_provenance_provenance_id_outbox_item', 'outbox_item', ['provenance_id'],
                                    ['id'])
    op.drop_table('hub_check_outcome')
    with op.batch_alter_table('hub_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hub_check_created_at'))
    op.drop_table('hub_check')
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.drop_index('ix_replica_anggota_ibu_norm_tanggal_lahir')
        batch_op.drop_index('ix_replica_anggota_nama_norm_tanggal_lahir')
        batch_op.drop_index('ix_replica_anggota_kab_tanggal_lahir')
        batch_op.drop_column('kab')
