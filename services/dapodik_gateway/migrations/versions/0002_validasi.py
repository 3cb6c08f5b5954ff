"""Validation before sync: vld_peserta_didik (one row per finding) and peserta_didik.status_validasi.

Rows that exist already get status_validasi NULL ("not validated yet"): the app validates them at startup.

Revision ID: 0002_validasi
Revises: 0001_initial
Create Date: 2026-11-22 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002_validasi'
down_revision: str | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_validasi', sa.SmallInteger(), nullable=True))

    op.create_table('vld_peserta_didik',
    sa.Column('logid', sa.Integer(), nullable=False),
    sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
    sa.Column('idtype', sa.Integer(), nullable=False),
    sa.Column('kode', sa.String(length=40), nullable=False),
    sa.Column('status_validasi', sa.SmallInteger(), nullable=False),
    sa.Column('field_error', sa.String(length=40), nullable=False),
    sa.Column('error_message', sa.String(length=300), nullable=False),
    sa.Column('create_date', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['peserta_didik_id'], ['peserta_didik.peserta_didik_id'], name=op.f('fk_vld_peserta_didik_peserta_didik_id_peserta_didik')),
    sa.PrimaryKeyConstraint('logid', name=op.f('pk_vld_peserta_didik'))
    )
    with op.batch_alter_table('vld_peserta_didik', schema=None) as batch_op:
        batch_op.create_index('ix_vld_peserta_didik_pd', ['peserta_didik_id', 'logid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vld_peserta_didik', schema=None) as batch_op:
        batch_op.drop_index('ix_vld_peserta_didik_pd')

    op.drop_table('vld_peserta_didik')
    with op.batch_alter_table('peserta_didik', schema=None) as batch_op:
        batch_op.drop_column('status_validasi')
