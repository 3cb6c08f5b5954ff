"""replica members indexed by (name, kabupaten) and (mother's name, kabupaten)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 23:45:00.000000

A unit's slice of the registry (``replica/slice.py``, ``replica.repository.person_columns_meeting``) reads the
fallback's "name x kabupaten" and "mother's name x kabupaten" keys (``nama_kab`` / ``ibu_kab``). Without an index
on both columns PostgreSQL answered each key with a BitmapAnd of the name index and the kabupaten prefix of
``ix_replica_anggota_kab_inisial``, reading every person of the kabupaten per key (12.8 M index entries in one first
sync of 21k students; 3,000 keys 178 ms, with these indexes 16 ms). The replica's writer maintains two more
indexes (docs/benchmarks.md, "h-sync2").
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.create_index('ix_replica_anggota_nama_norm_kab', ['nama_norm', 'kab'], unique=False)
        batch_op.create_index('ix_replica_anggota_ibu_norm_kab', ['ibu_norm', 'kab'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.drop_index('ix_replica_anggota_ibu_norm_kab')
        batch_op.drop_index('ix_replica_anggota_nama_norm_kab')
