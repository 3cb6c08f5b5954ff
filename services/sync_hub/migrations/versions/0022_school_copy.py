"""the hub's copy of each gateway's school list

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 00:00:00.000000

* ``school_copy`` (system, school) -> kode_wilayah, bentuk, npsn, read_at: a plan that needs a system's school list
  (a full run, a student new to the copy or moved school) reads it here a page at a time and looks up each feed
  page's schools by key, instead of holding the whole list (nationally ~530,000 schools) in the worker's memory.
  Empty after the upgrade: the next plan that needs the list fills it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'school_copy',
        sa.Column('system', sa.String(length=16), nullable=False),
        sa.Column('school', sa.String(length=64), nullable=False),
        sa.Column('kode_wilayah', sa.String(length=10), nullable=False),
        sa.Column('bentuk', sa.String(length=16), nullable=True),
        sa.Column('npsn', sa.String(length=8), nullable=True),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('system', 'school'),
    )


def downgrade() -> None:
    op.drop_table('school_copy')
