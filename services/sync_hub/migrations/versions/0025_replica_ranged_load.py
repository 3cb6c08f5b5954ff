"""a ranged first load of the registry replica

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 07:40:00.000000

* ``replica_state.floor_version``: the registry version a ranged first load read up to; the follower reads the feed
  after it (``since_version``).
* ``replica_load`` / ``replica_load_range``: a first load read as ranges of the change feed, each a job.
* ``replica_pkh_parked``: PKH items read before their family was in the replica, applied when the load finishes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('replica_state') as batch:
        batch.add_column(sa.Column('floor_version', sa.BigInteger(), nullable=True))
    op.create_table(
        'replica_load',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('head', sa.BigInteger(), nullable=False),
        sa.Column('ranges', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_replica_load')),
    )
    op.create_table(
        'replica_load_range',
        sa.Column('load_id', sa.Integer(), nullable=False),
        sa.Column('idx', sa.Integer(), nullable=False),
        sa.Column('lo', sa.BigInteger(), nullable=False),
        sa.Column('hi', sa.BigInteger(), nullable=False),
        sa.Column('cursor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('changes', sa.Integer(), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['load_id'], ['replica_load.id'],
                                name=op.f('fk_replica_load_range_load_id_replica_load')),
        sa.PrimaryKeyConstraint('load_id', 'idx', name=op.f('pk_replica_load_range')),
    )
    op.create_table(
        'replica_pkh_parked',
        sa.Column('load_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.Column('no_kk', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['load_id'], ['replica_load.id'],
                                name=op.f('fk_replica_pkh_parked_load_id_replica_load')),
        sa.PrimaryKeyConstraint('load_id', 'version', name=op.f('pk_replica_pkh_parked')),
    )


def downgrade() -> None:
    op.drop_table('replica_pkh_parked')
    op.drop_table('replica_load_range')
    op.drop_table('replica_load')
    with op.batch_alter_table('replica_state') as batch:
        batch.drop_column('floor_version')
