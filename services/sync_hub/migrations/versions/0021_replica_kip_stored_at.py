"""the KIP replica's cards say when a plan stored them

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 00:00:00.000000

* ``replica_kip.stored_at`` (nullable, indexed): the plan stores the KIP listing a page at a time (nationally ~19 M
  cards, never all in memory) and its position only with its units; a plan stopped in between reads the same cards
  again and finds them held, so it marks the regions of the cards stored since its run started
  (``mirror.kip_regions_stored_since``). Rows stored before this revision keep null: no plan is in flight across an
  upgrade.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('replica_kip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stored_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_replica_kip_stored_at'), ['stored_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('replica_kip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replica_kip_stored_at'))
        batch_op.drop_column('stored_at')
