"""Education verifications received from the hub: the current one per (child, period) and the history.

Revision ID: 0004_verifikasi_pendidikan
Revises: 0003_identity_search_keys
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_verifikasi_pendidikan"
down_revision: str | None = "0003_identity_search_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nik_anak", sa.String(length=16), nullable=False),
        sa.Column("periode", sa.String(length=7), nullable=False),
        sa.Column("enrolled", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("npsn", sa.String(length=8), nullable=True),
        sa.Column("nsm", sa.String(length=12), nullable=True),
        sa.Column("sumber", sa.String(length=10), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "verifikasi_pendidikan", *_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifikasi_pendidikan")),
        sa.UniqueConstraint("nik_anak", "periode", name=op.f("uq_verifikasi_pendidikan_nik_anak_periode")),
    )
    op.create_index(op.f("ix_verifikasi_pendidikan_nik_anak"), "verifikasi_pendidikan", ["nik_anak"], unique=False)
    op.create_table(
        "verifikasi_pendidikan_riwayat", *_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifikasi_pendidikan_riwayat")),
    )
    op.create_index("ix_verifikasi_pendidikan_riwayat_nik_anak_periode", "verifikasi_pendidikan_riwayat",
                    ["nik_anak", "periode"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_verifikasi_pendidikan_riwayat_nik_anak_periode", table_name="verifikasi_pendidikan_riwayat")
    op.drop_table("verifikasi_pendidikan_riwayat")
    op.drop_index(op.f("ix_verifikasi_pendidikan_nik_anak"), table_name="verifikasi_pendidikan")
    op.drop_table("verifikasi_pendidikan")
