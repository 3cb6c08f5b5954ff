"""replica members' name initials, indexed for the fallback's initials blocking rules

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 15:00:00.000000

* ``replica_anggota.inisial``: the first letters of the first and last words of ``nama_norm``, sorted
  (``matching.fallback.initials``), backfilled here from ``nama_norm`` and written with every member by the
  replica writer; indexes (inisial, tanggal_lahir) and (kab, inisial): a matcher's slice of the registry
  (``replica/slice.py``) reads the fallback's rules "birth date x initials" and "kabupaten x initials" through
  them (issue 14).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from services.sync_hub.matching.fallback import initials

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 10_000


def upgrade() -> None:
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inisial', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True))
    conn = op.get_bind()
    anggota = sa.table('replica_anggota', sa.column('nik', sa.String), sa.column('nama_norm', sa.String),
                       sa.column('inisial', sa.String))
    update = sa.update(anggota).where(anggota.c.nik == sa.bindparam('k')).values(inisial=sa.bindparam('v'))
    last = ''
    while True:  # in NIK order, a batch at a time: the names' initials are computed as the writer computes them
        rows = conn.execute(sa.select(anggota.c.nik, anggota.c.nama_norm).where(anggota.c.nik > last)
                            .order_by(anggota.c.nik).limit(_BATCH)).all()
        if not rows:
            break
        conn.execute(update, [{'k': nik, 'v': initials(name or '')} for nik, name in rows])
        last = rows[-1][0]
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.create_index('ix_replica_anggota_inisial_tanggal_lahir', ['inisial', 'tanggal_lahir'], unique=False)
        batch_op.create_index('ix_replica_anggota_kab_inisial', ['kab', 'inisial'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.drop_index('ix_replica_anggota_kab_inisial')
        batch_op.drop_index('ix_replica_anggota_inisial_tanggal_lahir')
        batch_op.drop_column('inisial')
