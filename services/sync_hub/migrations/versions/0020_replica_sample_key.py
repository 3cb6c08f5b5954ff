"""replica members' sample key: the fallback model's registry sample the same whatever the rows' physical order

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 00:00:00.000000

* ``replica_anggota.sample_key``: a 63-bit hash of the member's NIK (``replica.sample.sample_key``), backfilled here
  and written with every member by the replica writer; index (sample_key, nik). ``replica.sample.random_persons``
  takes the persons whose keys follow a point drawn from the seed, one index range, instead of PostgreSQL's
  ``TABLESAMPLE BERNOULLI ... REPEATABLE``, which picked rows by their place on disk (two first syncs of one world
  fitted different models) and the row-id draw on SQLite (row ids follow the order rows were written in).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.sync_hub.replica.sample import sample_key

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 10_000


def upgrade() -> None:
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sample_key', sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    anggota = sa.table('replica_anggota', sa.column('nik', sa.String), sa.column('sample_key', sa.BigInteger))
    update = sa.update(anggota).where(anggota.c.nik == sa.bindparam('k')).values(sample_key=sa.bindparam('v'))
    last = ''
    while True:  # in NIK order, a batch at a time: each key computed as the writer computes it
        niks = conn.execute(sa.select(anggota.c.nik).where(anggota.c.nik > last)
                            .order_by(anggota.c.nik).limit(_BATCH)).scalars().all()
        if not niks:
            break
        conn.execute(update, [{'k': nik, 'v': sample_key(nik)} for nik in niks])
        last = niks[-1]
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.create_index('ix_replica_anggota_sample_key', ['sample_key', 'nik'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.drop_index('ix_replica_anggota_sample_key')
        batch_op.drop_column('sample_key')
