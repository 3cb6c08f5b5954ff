"""Identity search keys on members: birth year and the family's region, indexed together.

Revision ID: 0003_identity_search_keys
Revises: 0002_keluarga_hapus
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_identity_search_keys"
down_revision: str | None = "0002_keluarga_hapus"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("anggota_keluarga") as batch:
        batch.add_column(sa.Column("tahun_lahir", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("kode_wilayah", sa.String(length=10), nullable=True))
    year = ("CAST(EXTRACT(YEAR FROM tanggal_lahir) AS INTEGER)" if op.get_bind().dialect.name == "postgresql"
            else "CAST(substr(tanggal_lahir, 1, 4) AS INTEGER)")
    op.execute(f"UPDATE anggota_keluarga SET tahun_lahir = {year}, kode_wilayah = "
               "(SELECT k.kode_wilayah FROM keluarga k WHERE k.no_kk = anggota_keluarga.no_kk)")
    with op.batch_alter_table("anggota_keluarga") as batch:
        batch.alter_column("tahun_lahir", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("kode_wilayah", existing_type=sa.String(length=10), nullable=False)
    op.create_index("ix_anggota_keluarga_tahun_lahir_kode_wilayah", "anggota_keluarga",
                    ["tahun_lahir", "kode_wilayah"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_anggota_keluarga_tahun_lahir_kode_wilayah", table_name="anggota_keluarga")
    with op.batch_alter_table("anggota_keluarga") as batch:
        batch.drop_column("kode_wilayah")
        batch.drop_column("tahun_lahir")
