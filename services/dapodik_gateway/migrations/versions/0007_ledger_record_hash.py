"""field_provenance.record_hash: the value's record hash in the hub's provenance ledger, as the hub sent it

Revision ID: 0007_ledger_record_hash
Revises: 0006_kehadiran_pd
Create Date: 2026-12-10 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_ledger_record_hash'
down_revision: str | None = '0006_kehadiran_pd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('field_provenance') as batch:
        batch.add_column(sa.Column('record_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('field_provenance') as batch:
        batch.drop_column('record_hash')
