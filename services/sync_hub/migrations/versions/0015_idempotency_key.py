"""idempotency_key: answers of POSTs sent with an Idempotency-Key (shared.idempotency), kept 24 hours

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'idempotency_key',
        sa.Column('caller', sa.String(length=200), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('headers', sa.Text(), nullable=True),
        sa.Column('body', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('caller', 'key', name=op.f('pk_idempotency_key')),
    )
    op.create_index(op.f('ix_idempotency_key_expires_at'), 'idempotency_key', ['expires_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_idempotency_key_expires_at'), table_name='idempotency_key')
    op.drop_table('idempotency_key')
