"""provenance ledger: hash chain entries, signed Merkle checkpoints, the head row appends lock

Provenance rows written before this revision (0011) are not ledgered: verification counts them as ``unledgered``
(docs/ledger.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ZERO = '0' * 64


def upgrade() -> None:
    head = op.create_table('ledger_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('chain_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('checkpoint_seq', sa.BigInteger(), nullable=False),
    sa.Column('checkpoint_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_head'))
    )
    op.bulk_insert(head, [{'id': 1, 'seq': 0, 'chain_hash': ZERO, 'checkpoint_seq': 0, 'checkpoint_hash': ZERO}])
    op.create_table('ledger_entry',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('record_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('record_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('chain_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('appended_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_ledger_entry'))
    )
    op.create_index(op.f('ix_ledger_entry_record_id'), 'ledger_entry', ['record_id'], unique=False)
    op.create_index(op.f('ix_ledger_entry_record_hash'), 'ledger_entry', ['record_hash'], unique=False)
    op.create_table('ledger_checkpoint',
    sa.Column('last_seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('first_seq', sa.BigInteger(), nullable=False),
    sa.Column('root', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('chain_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('previous', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.PrimaryKeyConstraint('last_seq', name=op.f('pk_ledger_checkpoint'))
    )


def downgrade() -> None:
    op.drop_table('ledger_checkpoint')
    op.drop_index(op.f('ix_ledger_entry_record_hash'), table_name='ledger_entry')
    op.drop_index(op.f('ix_ledger_entry_record_id'), table_name='ledger_entry')
    op.drop_table('ledger_entry')
    op.drop_table('ledger_head')
