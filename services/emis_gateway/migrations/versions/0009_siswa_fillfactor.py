"""siswa: fillfactor 50 on PostgreSQL, so the hub's write of a student's values is a HOT update

A first sync updates every student's row once (the hub's values, the outcome, ``last_sync``): none of those
columns is indexed, so the new row version could stay on its page without touching the table's three indexes
(a HOT update), but a bulk-loaded page is full and every version went to another page with an entry in each
index. At fillfactor 50 a load (COPY or INSERT) leaves half of each page free: room for one new version of
each of its rows. Measured: 5,000 students, one PKH batch each (``bench/bench_gateway_push.py``), 0.6 % of the
updates HOT before, 78 % after, the UPDATE's server CPU ~25 % lower (three indexes: less to save than at
Dapodik's peserta_didik); a 20k first sync (``bench/bench_sync_e2e.py``), 67 % before, 98 % after. The table is
about 1.5-2 times as large after a load: about the size the first sync's new row versions made it before.

Only rows written from now on are placed this way (ALTER TABLE ... SET does not rewrite the table). SQLite has
no fillfactor: a no-op there.

Revision ID: 0009_siswa_fillfactor
Revises: 0008_idempotency_key
Create Date: 2026-12-05 00:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009_siswa_fillfactor'
down_revision: str | None = '0008_idempotency_key'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 50


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'ALTER TABLE siswa SET (fillfactor = {FILLFACTOR})')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE siswa RESET (fillfactor)')
