"""Registry completeness: BPNT/PBI-JK memberships, PKH beneficiaries, split origin, reason of a KK change.

Revision ID: 0005_programmes_and_kk_history
Revises: 0004_verifikasi_pendidikan
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_programmes_and_kk_history"
down_revision: str | None = "0004_verifikasi_pendidikan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("keluarga") as batch:
        batch.add_column(sa.Column("asal_no_kk", sa.String(length=16), nullable=True))
        batch.create_index(batch.f("ix_keluarga_asal_no_kk"), ["asal_no_kk"], unique=False)
    with op.batch_alter_table("keluarga_kk_lama") as batch:
        batch.add_column(sa.Column("alasan", sa.String(length=30), nullable=True))
    with op.batch_alter_table("pkh_keanggotaan") as batch:
        batch.add_column(sa.Column("penerima", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.create_table(
        "bansos_keanggotaan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("no_kk", sa.String(length=16), nullable=False),
        sa.Column("program", sa.String(length=10), nullable=False),
        sa.Column("tahun", sa.Integer(), nullable=False),
        sa.Column("tahap", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["no_kk"], ["keluarga.no_kk"], name=op.f("fk_bansos_keanggotaan_no_kk_keluarga"),
                                onupdate="CASCADE", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bansos_keanggotaan")),
        sa.UniqueConstraint("no_kk", "program", "tahun", "tahap",
                            name=op.f("uq_bansos_keanggotaan_no_kk_program_tahun_tahap")),
    )
    op.create_index(op.f("ix_bansos_keanggotaan_no_kk"), "bansos_keanggotaan", ["no_kk"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bansos_keanggotaan_no_kk"), table_name="bansos_keanggotaan")
    op.drop_table("bansos_keanggotaan")
    with op.batch_alter_table("pkh_keanggotaan") as batch:
        batch.drop_column("penerima")
    with op.batch_alter_table("keluarga_kk_lama") as batch:
        batch.drop_column("alasan")
    with op.batch_alter_table("keluarga") as batch:
        batch.drop_index(batch.f("ix_keluarga_asal_no_kk"))
        batch.drop_column("asal_no_kk")
