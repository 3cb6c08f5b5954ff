"""the ids of a run's outcomes and of the families-at-risk report as BIGINT on PostgreSQL

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 15:00:00.000000

* ``student_outcome.id``: every run adds a row per student it decides (~53 M for a national full run), and
  ``family_risk.id``: every run's build replaces the period's rows with new ones. As INTEGER (a SERIAL and its
  ``integer`` sequence) both would stop at 2^31 - 1 within years of national runs ("nextval: reached maximum
  value"). The column becomes BIGINT and its sequence ``AS bigint`` (whose maximum then becomes BIGINT's).
  SQLite's INTEGER PRIMARY KEY is the 8-byte rowid already: nothing to do there.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('student_outcome', 'family_risk')


def _sequence_as(table: str, kind: str) -> None:
    op.execute(f"DO $$ BEGIN EXECUTE format('ALTER SEQUENCE %s AS {kind}', "
               f"pg_get_serial_sequence('{table}', 'id')); END $$")


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.alter_column(table, 'id', type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
        _sequence_as(table, 'bigint')


def downgrade() -> None:
    """Back to INTEGER: fails if an id beyond 2^31 - 1 is stored (nothing can hold it there)."""
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        _sequence_as(table, 'integer')
        op.alter_column(table, 'id', type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
