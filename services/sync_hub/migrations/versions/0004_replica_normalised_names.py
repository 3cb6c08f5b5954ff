"""replica: normal forms of names stored with each member, and the normaliser version

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 12:00:00.000000

Existing member rows get empty normal forms and the state no names version: the next refresh sees the
version differ, empties the replica and reads the change feed from the start (the replica is a copy).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nama_norm', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('ibu_norm', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False,
                                      server_default=''))
    with op.batch_alter_table('replica_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('names_version', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('replica_state', schema=None) as batch_op:
        batch_op.drop_column('names_version')
    with op.batch_alter_table('replica_anggota', schema=None) as batch_op:
        batch_op.drop_column('ibu_norm')
        batch_op.drop_column('nama_norm')
