"""KIP SK batches: sk_kip (one row per decree) and kip_tidak_cocok (issuances that matched no student).

Revision ID: 0005_kip_sk
Revises: 0004_kesejahteraan_pd
Create Date: 2026-11-22 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_kip_sk'
down_revision: str | None = '0004_kesejahteraan_pd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sk_kip',
    sa.Column('nomor_sk', sa.String(length=60), nullable=False),
    sa.Column('tanggal_sk', sa.Date(), nullable=False),
    sa.Column('sumber', sa.String(length=40), nullable=False),
    sa.Column('first_received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('n_items', sa.Integer(), nullable=False),
    sa.Column('n_applied', sa.Integer(), nullable=False),
    sa.Column('n_unmatched', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('nomor_sk', name=op.f('pk_sk_kip'))
    )
    op.create_table('kip_tidak_cocok',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nomor_sk', sa.String(length=60), nullable=False),
    sa.Column('peserta_didik_id', sa.String(length=36), nullable=False),
    sa.Column('no_kip', sa.String(length=10), nullable=False),
    sa.Column('nm_kip', sa.String(length=100), nullable=False),
    sa.Column('nisn', sa.String(length=10), nullable=True),
    sa.Column('npsn', sa.String(length=8), nullable=True),
    sa.Column('alasan', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['nomor_sk'], ['sk_kip.nomor_sk'], name=op.f('fk_kip_tidak_cocok_nomor_sk_sk_kip')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kip_tidak_cocok')),
    sa.UniqueConstraint('nomor_sk', 'peserta_didik_id', name='uq_kip_tidak_cocok_sk_pd')
    )
    with op.batch_alter_table('kip_tidak_cocok', schema=None) as batch_op:
        batch_op.create_index('ix_kip_tidak_cocok_npsn_id', ['npsn', 'id'], unique=False)
        batch_op.create_index('ix_kip_tidak_cocok_pd', ['peserta_didik_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kip_tidak_cocok', schema=None) as batch_op:
        batch_op.drop_index('ix_kip_tidak_cocok_pd')
        batch_op.drop_index('ix_kip_tidak_cocok_npsn_id')
    op.drop_table('kip_tidak_cocok')
    op.drop_table('sk_kip')
