"""matching: the fallback's fitted model, stored and reused while the registry holds still

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 13:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'matching_model',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('retired_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('fields_schema', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('registry_seq', sa.BigInteger(), nullable=False),
        sa.Column('registry_persons', sa.BigInteger(), nullable=False),
        sa.Column('registry_families', sa.BigInteger(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('stats', sa.JSON(), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_matching_model')),
    )


def downgrade() -> None:
    op.drop_table('matching_model')
