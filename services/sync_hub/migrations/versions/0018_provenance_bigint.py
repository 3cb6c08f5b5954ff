"""provenance.source_version and provenance.observed_seq as 64-bit integers

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 21:30:00.000000

Both hold the registry's numbers (a record's version, the change feed's sequence), which every other table of the
hub and both gateways already keep as BIGINT. As INTEGER on PostgreSQL a registry past 2,147,483,647 changes (DTSEN
holds ~289 M people; a few years of changes) would make every provenance insert fail. On PostgreSQL the columns are
altered in place (a rewrite of the table under its lock: on a large hub, run it in a maintenance window); SQLite
stores both as 64-bit already, but only a copy of the table changes the declared type there (Alembic's batch mode),
which the embedded default's size allows.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('source_version', 'observed_seq')


def _alter(old: type[sa.types.TypeEngine], new: type[sa.types.TypeEngine]) -> None:
    with op.batch_alter_table('provenance', schema=None) as batch:  # ALTER on PostgreSQL, a copy on SQLite
        for column in COLUMNS:
            batch.alter_column(column, existing_type=old(), type_=new(), existing_nullable=False)


def upgrade() -> None:
    _alter(sa.Integer, sa.BigInteger)


def downgrade() -> None:
    _alter(sa.BigInteger, sa.Integer)
