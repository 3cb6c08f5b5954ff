"""the ids of the hub's audit trail, field_provenance and field_history, as BIGINT on PostgreSQL

Each value the hub writes adds a ``field_provenance`` row and, where it replaces a value, a ``field_history`` row
(~4.3 per student in a first sync: tens of millions for the country's madrasah and pesantren), and every later
change adds more: as INTEGER (a SERIAL and its ``integer`` sequence) they would stop at 2^31 - 1 ("nextval: reached
maximum value") after some years of national runs. The columns become BIGINT, with ``field_history.provenance_id``
that points at one, and the sequences ``AS bigint``. PostgreSQL rewrites both tables. SQLite's INTEGER PRIMARY KEY
is the 8-byte rowid already: nothing to do there.

Revision ID: 0010_audit_ids_bigint
Revises: 0009_siswa_fillfactor
Create Date: 2026-12-05 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_audit_ids_bigint'
down_revision: str | None = '0009_siswa_fillfactor'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IDS = ('field_provenance', 'field_history')  # tables whose SERIAL id widens
POINTERS = (('field_history', 'provenance_id', False),)  # (table, column, nullable) that hold such an id


def _sequence_as(table: str, kind: str) -> None:
    op.execute(f"DO $$ BEGIN EXECUTE format('ALTER SEQUENCE %s AS {kind}', "
               f"pg_get_serial_sequence('{table}', 'id')); END $$")


def _columns(to: sa.types.TypeEngine[int], was: sa.types.TypeEngine[int]) -> None:
    for table in IDS:
        op.alter_column(table, 'id', type_=to, existing_type=was, existing_nullable=False)
    for table, column, nullable in POINTERS:
        op.alter_column(table, column, type_=to, existing_type=was, existing_nullable=nullable)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    _columns(sa.BigInteger(), sa.Integer())
    for table in IDS:
        _sequence_as(table, 'bigint')


def downgrade() -> None:
    """Back to INTEGER: fails if an id beyond 2^31 - 1 is stored (nothing can hold it there)."""
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in IDS:
        _sequence_as(table, 'integer')
    _columns(sa.Integer(), sa.BigInteger())
